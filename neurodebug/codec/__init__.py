"""The codec: traces <-> CWM token ids (:mod:`.codec`) and generated ids -> frames (:mod:`.parser`)."""

from neurodebug.codec.codec import Codec, left_entry
from neurodebug.codec.parser import FrameParser

__all__ = ["Codec", "FrameParser", "left_entry"]

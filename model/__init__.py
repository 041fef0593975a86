"""neurodebug's CWM runtime: tokens in, tokens out (see runtime.py for the API)."""

from model.errors import ModelError
from model.runtime import CWM, Sequence, load_model

__all__ = ["CWM", "ModelError", "Sequence", "load_model"]

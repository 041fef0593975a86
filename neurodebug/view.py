"""What a front end shows of a session at one moment, computed once for the TUI and the language server.

A :class:`SessionView` is a snapshot taken after each change, in the thread that made it: the
frames so far and the current step, the real run and the real frame aligned with each predicted
frame, the comparison, and what each step changed. Front ends read it; they align nothing and
diff nothing themselves.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from neurodebug.compare import Comparison, Divergence, align, compare, frame_differences
from neurodebug.real.objects import Instance, parse
from neurodebug.trace.format import source_lines
from neurodebug.trace.frames import End, Frame, Trace, changed_names

if TYPE_CHECKING:
    from neurodebug.session import Session, Speed


@dataclass(frozen=True)
class SessionView:
    """A session's state, copied out of it: nothing here changes when the session moves on."""

    source: str
    path: str | None
    entry: str
    call: str | None
    frames: tuple[Frame, ...]
    index: int  # the current step: the session's last frame (-1 before the first)
    ended: bool
    end: End
    real: Trace | None  # None without a real run
    real_note: str | None  # why the real run is missing or did not end normally
    aligned: tuple[int | None, ...]  # aligned[i]: the real frame's index aligned with predicted frame i
    comparison: Comparison | None  # the predicted frames so far against the real run
    tokens_per_s: float | None  # the speed of the last prediction
    speed: Speed  # what predicting the frames cost so far
    forced: frozenset = frozenset()  # the frames the session wrote (the call frame, real frames taken)
    anchors: tuple = ()  # Anchor: each place the real run's frames were taken (Session.take_real)
    unsure_below: float = 0.5  # SessionOptions.unsure_below: a value or step under it is unsure
    home: str | None = None  # Frame.file of the session's own file
    root: str | None = None  # the folder Frame.file is relative to (trace.source.trace_root)
    files: dict = field(default_factory=dict)  # Frame.file -> its text, for every file a frame is in

    @classmethod
    def of(cls, session: Session) -> SessionView:
        """The view of ``session`` now (take it in the thread that changes the session)."""
        frames = tuple(session.frames)
        real = session.real
        aligned: list[int | None] = [None] * len(frames)
        comparison = None
        if real is not None:
            for ri, pi in align(real.frames, list(frames), session.elided):
                if pi is not None:
                    aligned[pi] = ri
            predicted = Trace(session.source, session.entry, session.call, list(frames), session.end)
            comparison = compare(real, predicted, session.elided)
        return cls(source=session.source, path=session.path, entry=session.entry, call=session.call, frames=frames,
                   index=len(frames) - 1, ended=session.ended, end=session.end, real=real,
                   real_note=session.real_note, aligned=tuple(aligned), comparison=comparison,
                   tokens_per_s=session.last_tokens_per_s, speed=copy.copy(session.speed),
                   forced=frozenset(session._forced), anchors=tuple(session.anchors),
                   unsure_below=session.options.unsure_below,
                   home=session.context.main, root=session.root,
                   files=session.file_texts({f.file for f in frames} | {f.file for f in (real.frames if real else ())}))

    # -- files ------------------------------------------------------------------------------------
    def file_text(self, file: str | None) -> str:
        """The text of a frame's file (the session's own source for its own file)."""
        return self.source if file == self.home else self.files.get(file, "")

    def file_lines(self, file: str | None) -> list[str]:
        return source_lines(self.file_text(file))

    def path_of(self, file: str | None) -> str | None:
        """The absolute path of a frame's file; None for one in no file (a call expression's)."""
        if file == self.home:
            return self.path
        if file is None or file.startswith("<") or self.root is None:
            return None
        return os.path.join(self.root, *file.split("/"))

    # -- the predicted side ---------------------------------------------------------------------
    @property
    def current(self) -> Frame | None:
        return self.frames[self.index] if self.frames else None

    def changed(self, i: int) -> frozenset[str]:
        """The locals predicted step ``i`` changed (``trace.frames.changed_names``)."""
        return changed_names(self.frames, i) if 0 <= i < len(self.frames) else frozenset()

    # -- the real side --------------------------------------------------------------------------
    @property
    def real_frames(self) -> list[Frame]:
        return self.real.frames if self.real is not None else []

    @property
    def real_index(self) -> int | None:
        """The real frame aligned with the current step, None when there is none."""
        return self.aligned[-1] if self.aligned else None

    def real_frame(self, i: int) -> Frame | None:
        """The real frame aligned with predicted step ``i`` (None when there is none)."""
        ri = self.aligned[i] if 0 <= i < len(self.aligned) else None
        return self.real_frames[ri] if ri is not None else None

    def aligned_real(self) -> list[Frame | None]:
        """The real frame aligned with each predicted frame (None where there is none)."""
        real = self.real_frames
        return [real[ri] if ri is not None else None for ri in self.aligned]

    def real_changed(self, ri: int) -> frozenset[str]:
        """The locals real step ``ri`` changed."""
        real = self.real_frames
        return changed_names(real, ri) if 0 <= ri < len(real) else frozenset()

    def segments(self) -> list[Segment]:
        """The prediction in stretches: from the start, then from each place where the user took
        the real run's frames (Session.take_real); in each, how many frames the model wrote and
        how many of them differ from the real run (or have none to match)."""
        bounds = [0, *(a.start for a in self.anchors), len(self.frames)]
        ends = [*self.anchors, None]  # what the real frames taken at a segment's end replaced
        out = []
        for (start, end), anchor in zip(zip(bounds, bounds[1:]), ends):
            written = [i for i in range(start, end) if i not in self.forced]
            wrong = [i for i in written if self.diverges(i)]
            first = wrong[0] if wrong else anchor.first if anchor is not None else None
            replaced, replaced_wrong = (anchor.replaced, anchor.diverged) if anchor is not None else (0, 0)
            out.append(Segment(start, end, len(written) + replaced, len(wrong) + replaced_wrong, first))
        return out

    def segment_sentences(self) -> list[str]:
        """The divergences of each stretch of prediction, one sentence each (none before the user
        took any real frame: the comparison says it all then)."""
        if not self.anchors:
            return []
        out = []
        for k, seg in enumerate(self.segments()):
            where = "From the start" if k == 0 else f"From step {seg.start + 1} (after the real run's frames)"
            wrong = "none differs from the real run" if not seg.diverged else \
                f"{seg.diverged} differ{'s' if seg.diverged == 1 else ''} from the real run, the first at step {seg.first + 1}"
            out.append(f"{where}: the model wrote {seg.predicted} frame{'s' if seg.predicted != 1 else ''}; {wrong}.")
        return out

    def on_track(self, i: int) -> float | None:
        """How likely the prediction is still on the real path at step ``i``
        (``confidence.on_track``: the product of the predicted frames' confidences since the
        last frame the session wrote); None for a frame the session wrote, or without confidences."""
        from neurodebug.confidence import on_track

        if not 0 <= i < len(self.frames):
            return None
        return on_track([None if k in self.forced else f.confidence for k, f in enumerate(self.frames[:i + 1])])[-1]

    def diverges(self, i: int) -> bool:
        """Predicted frame ``i`` differs from the real run (or has no real frame to match)."""
        real = self.real_frame(i)
        return real is None or bool(frame_differences(real, self.frames[i]))

    @property
    def divergence(self) -> Divergence | None:
        """The first divergence from the real run so far (None without one, or without a real run)."""
        return self.comparison.first_divergence if self.comparison is not None else None


@dataclass(frozen=True)
class Anchor:
    """A place where the real run's frames were taken (Session.take_real): the prediction goes on
    from frame ``start``; the ``replaced`` frames the model had written there are gone, and
    ``diverged`` of them differed from the real run (the first at step ``first``)."""

    start: int
    replaced: int
    diverged: int
    first: int | None


@dataclass(frozen=True)
class Segment:
    """A stretch of prediction (SessionView.segments): frames ``start`` to ``end - 1``."""

    start: int
    end: int
    predicted: int  # frames the model wrote in it (the ones real frames replaced included)
    diverged: int  # of those, frames that differed from the real run
    first: int | None  # the step of the first of them, None when it matched


def sure_text(confidence: float | None) -> str:
    """'62% sure' for a predicted frame's or value's confidence ('' when it has none: real,
    written by the session, or from a backend that gives no probabilities)."""
    return "" if confidence is None else f"{100 * confidence:.0f}% sure"


def alternatives_text(alternatives, shown: int = 3) -> str:
    """"'r' 77%, 'p' 20%" for a value's alternatives (neurodebug.alternatives)."""
    return ", ".join(f"{a.value} {100 * a.probability:.0f}%" for a in alternatives[:shown])


# -- the locals side by side (the TUI's table, the notebook's) -----------------------------------


@dataclass(frozen=True)
class LocalRow:
    """One row of the locals table. ``None`` means the variable is absent on that side."""

    name: str
    predicted: str | None
    real: str | None
    predicted_changed: bool = False
    real_changed: bool = False
    confidence: float | None = None  # how sure the model was of the predicted value, when it wrote it

    @property
    def differs(self) -> bool:
        return self.real is not None and self.predicted != self.real


def local_rows(predicted: Frame | None, real: Frame | None, p_changed: frozenset[str], r_changed: frozenset[str]) -> list[LocalRow]:
    """One row per name in either frame: predicted order first, then names only the real run has."""
    p = predicted.locals if predicted is not None else {}
    r = real.locals if real is not None else {}
    names = list(p) + [n for n in r if n not in p]
    has_real = real is not None
    return [
        LocalRow(
            name=n,
            predicted=p.get(n),
            real=r.get(n) if has_real else None,
            predicted_changed=n in p_changed,
            real_changed=n in r_changed,
            confidence=(predicted.locals_confidence or {}).get(n) if predicted is not None else None,
        )
        for n in names
    ]


# -- an object's attributes side by side (the TUI's value detail, the editor's hover) -----------


@dataclass(frozen=True)
class ObjectRows:
    """A local that is an object written with its attributes (``Stack(items=[1])``, see
    :mod:`neurodebug.real.objects`) on either side: what each side is, then one row per attribute,
    predicted beside real (``None``: the attribute is absent on that side)."""

    predicted: str | None  # the class name, or the whole value when that side is no such object
    real: str | None
    rows: tuple[LocalRow, ...]


def object_rows(row: LocalRow) -> ObjectRows | None:
    """``row``'s attributes, predicted order first; None unless a side is an object with attributes."""
    p, r = parse(row.predicted), parse(row.real)
    if p is None and r is None:
        return None
    names = list(p or ()) + [k for k in (r or ()) if k not in (p or ())]
    rows = tuple(LocalRow(k if isinstance(k, str) else repr(k), _attribute(p, k), _attribute(r, k)) for k in names)
    return ObjectRows(p.name if p is not None else row.predicted, r.name if r is not None else row.real, rows)


def _attribute(obj: Instance | None, name) -> str | None:
    return repr(obj[name]) if obj is not None and name in obj else None

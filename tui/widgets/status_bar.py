"""Model and backend, speed of the last prediction, how the real run went, and work under way."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from neurodebug.tui.present import Shown


class StatusBar(Static):
    """``model NAME · 12.3 tok/s · 4.2 frames/s · 3.9 fwd/frame · real run: returned 6``, plus a
    busy line while a worker runs (frames/s and forwards per frame: the session's predicted frames
    so far; fewer forwards than tokens with jump-forward and speculation)."""

    COMPONENT_CLASSES = {"status-bar--label", "status-bar--ok", "status-bar--bad", "status-bar--busy"}

    model: reactive[str] = reactive("")
    tokens_per_s: reactive[float | None] = reactive(None)
    frames_per_s: reactive[float | None] = reactive(None)
    forwards_per_frame: reactive[float | None] = reactive(None)
    real: reactive[str] = reactive("")
    real_ok: reactive[bool] = reactive(True)
    busy: reactive[str] = reactive("", layout=True)  # one more line while work runs
    mode: reactive[str] = reactive("")
    shown: reactive[Shown | None] = reactive(None, init=False)

    def watch_shown(self, shown: Shown | None) -> None:
        if shown is not None:
            self.mode, self.tokens_per_s = shown.mode, shown.tokens_per_s
            self.frames_per_s, self.forwards_per_frame = shown.frames_per_s, shown.forwards_per_frame
            self.real, self.real_ok = shown.real, shown.real_ok

    def render(self) -> Text:
        label = self.get_component_rich_style("status-bar--label", partial=True)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("model ", label)
        t.append(self.model or "loading…")
        t.append("  ·  ", label)
        t.append("—" if self.tokens_per_s is None else f"{self.tokens_per_s:.1f}")
        t.append(" tok/s", label)
        if self.frames_per_s is not None:
            t.append("  ·  ", label)
            t.append(f"{self.frames_per_s:.1f}")
            t.append(" frames/s", label)
        if self.forwards_per_frame is not None:
            t.append("  ·  ", label)
            t.append(f"{self.forwards_per_frame:.1f}")
            t.append(" fwd/frame", label)
        t.append("  ·  real run: ", label)
        style = "status-bar--ok" if self.real_ok else "status-bar--bad"
        t.append(self.real or "pending", self.get_component_rich_style(style, partial=True))
        if self.mode:
            t.append("  ·  ", label)
            t.append(self.mode)
        if self.busy:
            t.append("\n")
            t.append(self.busy, self.get_component_rich_style("status-bar--busy", partial=True))
        return t

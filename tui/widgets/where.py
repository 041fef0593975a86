"""Where we are: the step counter, call depth and function, the event, and the real cursor."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from neurodebug.tui.present import Shown, Where


class WhereBar(Static):
    """Three or four short lines; no timing in here, so it is stable in snapshots."""

    BORDER_TITLE = "where"
    COMPONENT_CLASSES = {"where-bar--label", "where-bar--event", "where-bar--bad"}

    shown: reactive[Shown | None] = reactive(None, init=False)

    def watch_shown(self, shown: Shown | None) -> None:
        if shown is not None:
            self.show(shown.where)

    def show(self, w: Where) -> None:
        label = self.get_component_rich_style("where-bar--label", partial=True)
        ev = self.get_component_rich_style("where-bar--event", partial=True)
        bad = self.get_component_rich_style("where-bar--bad", partial=True)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("step ", label)
        # the session's current step is its last one: the total is known once the trace ended
        t.append(f"{w.step} of {w.total}" if w.final else f"{w.step}")
        if w.on_track is not None:
            t.append("   on track ", label)
            t.append(f"{100 * w.on_track:.0f}%")
        if w.event is not None:
            t.append("   line ", label)
            t.append(str(w.line) if w.line is not None else "?")
            t.append("\n")
            t.append("in ", label)
            t.append(f"{w.func or '?'}()")
            t.append("   depth ", label)
            t.append(str(w.depth))
            t.append("\n")
            t.append(f"{w.event:<10}", ev)
            if w.event in ("return", "exception"):
                t.append("→ ")
                t.append(w.arg if w.arg is not None else "?", bad if w.event == "exception" else "")
            else:
                t.append(w.source.strip())
            if w.malformed:
                t.append("\n")
                t.append(f"malformed: {w.malformed}", bad)
        t.append("\n")
        t.append("real ", label)
        if w.real_step is None:
            t.append("no aligned real step" if w.real_total else "no real trace")
        else:
            t.append(f"step {w.real_step} of {w.real_total}")
            if w.real_detached:
                t.append("  (moved with [ ])", label)
        if w.end:
            t.append("\n")
            t.append("end  ", label)
            t.append(w.end)
        self.update(t)

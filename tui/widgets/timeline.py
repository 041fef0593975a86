"""A strip of the steps, one cell each, with the divergences from the real run marked.

Marks: ``=`` agrees with the real step, ``✗`` differs, ``?`` malformed, ``+`` predicted
only (the real run had no such step), ``-`` real only, ``.`` not predicted yet or no real run.
The current predicted step is shown reversed; the real cursor, when moved apart with ``[``/``]``,
is underlined.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from neurodebug.tui.present import Shown

GLYPHS = {
    "agree": "=",
    "differs": "✗",
    "malformed": "?",
    "predicted-only": "+",
    "real-only": "-",
    "unknown": ".",
}


class Timeline(Widget):
    """One cell per step, windowed around the current step when the trace is longer than the width."""

    BORDER_TITLE = "timeline"
    COMPONENT_CLASSES = {f"timeline--{k}" for k in GLYPHS} | {"timeline--current", "timeline--real"}

    shown: reactive[Shown | None] = reactive(None, init=False)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.marks: list[str] = []
        self.current: int = -1
        self.real: int | None = None

    def watch_shown(self, shown: Shown | None) -> None:
        if shown is not None:
            self.show(list(shown.marks), shown.current, shown.real_cell)

    def show(self, marks: list[str], current: int, real: int | None) -> None:
        self.marks, self.current, self.real = list(marks), current, real
        self.refresh()

    def render(self) -> Text:
        width = max(1, self.size.width)
        n = len(self.marks)
        start = 0
        if n > width:
            start = max(0, min(n - width, self.current - width // 2))
        text = Text(no_wrap=True, overflow="crop")
        for i in range(start, min(n, start + width)):
            kind = self.marks[i]
            style = self.get_component_rich_style(f"timeline--{kind}", partial=True)
            if i == self.current:
                style = style + self.get_component_rich_style("timeline--current", partial=True)
            elif self.real is not None and i == self.real:
                style = style + self.get_component_rich_style("timeline--real", partial=True)
            text.append(GLYPHS.get(kind, "?"), style)
        return text

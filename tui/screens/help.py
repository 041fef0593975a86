"""``?``: the keys and what the markers and colours mean."""

from __future__ import annotations

from neurodebug.tui.widgets.timeline import GLYPHS
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

EXPLAIN = {
    "step": "predict the next step (into calls)",
    "next": "step over calls in the current function",
    "out": "run until the current function returns",
    "back": "go back one step",
    "continue": "predict until the trace ends",
    "to line": "run to the line under the source cursor (up/down to move it)",
    "edit": "set a variable of the current step; the model re-predicts from there",
    "reset": "start over and sample again",
    "divergence": "jump to the first step where the prediction and the real run part",
    "real ◀": "move the real trace back, independently of the prediction",
    "real ▶": "move the real trace forward, independently of the prediction",
    "teacher": "toggle the teacher-forced view: each real step as the model predicts it from the real past ([ ] browse)",
    "from real": "continue from the real run: its step replaces the prediction here, the model predicts on from it",
    "unsure": "predict until a step the model is unsure of (under the unsure_below option; marked ? in the table)",
    "alternatives": "the model's most likely values of the selected variable here, with their probabilities",
    "help": "this help",
    "quit": "quit",
}


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, bindings) -> None:
        super().__init__()
        # the footer's keys, and those it has no room for (the ones this help explains)
        self.bindings_shown = [b for b in bindings if b.show or b.description in EXPLAIN]

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        for b in self.bindings_shown:
            keys.add_row(Text(b.key_display or b.key, style="bold"), EXPLAIN.get(b.description, b.description))
        keys.add_row(Text("Esc", style="bold"), "cancel the prediction under way")
        legend = Table.grid(padding=(0, 2))
        legend.add_row(Text("▶", style="bold"), "the line the model predicts runs now")
        legend.add_row(Text("●", style="bold"), "the line the real run is at")
        legend.add_row(Text("—", style="bold"), "no such variable on that side")
        for kind, glyph in GLYPHS.items():
            legend.add_row(Text(glyph, style="bold"), f"timeline: {kind.replace('-', ' ')}")
        with Vertical(id="help-box"):
            yield Static("neurodebug keys", classes="title")
            yield Static(keys)
            yield Static("markers", classes="title")
            yield Static(legend)
            yield Static("Escape or ? closes this help.", classes="hint")

    def action_dismiss(self) -> None:
        self.dismiss(None)

"""``e``: set a variable of the current step (a Python expression); the model re-predicts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class EditScreen(ModalScreen[tuple[str, str] | None]):
    """Two inputs, name and value; Enter applies, Escape leaves everything as it was."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, names: list[str], name: str, value: str, step: int) -> None:
        super().__init__()
        self.names = names
        self.initial = (name, value)
        self.step = step

    def compose(self) -> ComposeResult:
        with Vertical(id="edit-box"):
            yield Static(f"Set a variable at step {self.step}; the model re-predicts from there", classes="title")
            yield Static("name", classes="hint")
            yield Input(self.initial[0], placeholder="name", id="edit-name")
            yield Static("value (a Python expression)", classes="hint")
            yield Input(self.initial[1], placeholder="value", id="edit-value")
            yield Static(f"variables: {', '.join(self.names)}   Enter applies · Escape cancels", classes="hint", id="edit-hint")

    def on_mount(self) -> None:
        value = self.query_one("#edit-value", Input)
        value.focus()
        value.select_all()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "edit-name":
            self.query_one("#edit-value", Input).focus()
            return
        name = self.query_one("#edit-name", Input).value.strip()
        value = self.query_one("#edit-value", Input).value.strip()
        if name not in self.names:
            self.query_one("#edit-hint", Static).update(
                f"{name or 'That'} is not a variable of this step; choose one of {', '.join(self.names)}."
            )
            return
        if not value:
            self.query_one("#edit-hint", Static).update("Type a value (a Python expression), or Escape to cancel.")
            return
        self.dismiss((name, value))

    def action_cancel(self) -> None:
        self.dismiss(None)

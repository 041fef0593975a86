"""The neurodebug TUI: the predicted execution next to the real one, one step at a time.

A view over :class:`neurodebug.session.Session`: the app holds what to debug and shows the
main screen (:mod:`neurodebug.tui.screens.main`), where the session, its keys and its state
live; help and edit are modal screens on top of it. Every failure is shown as one sentence in
the notice line; the app never shows a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neurodebug.options import SessionOptions
from neurodebug.tui.screens.main import MainScreen
from textual.app import App

if TYPE_CHECKING:
    from neurodebug.session import Session


@dataclass
class SessionSpec:
    """What to debug and with which options; ``predictor`` (a ready backends.Predictor), when
    given, stands in for the model the options name."""

    path: str
    entry: str | None = None
    call: str | None = None
    options: SessionOptions = field(default_factory=SessionOptions)
    predictor: Any = None

    def session(self) -> Session:
        """The session, not started (cheap: a bad file, entry or call is a UserError here)."""
        from neurodebug.session import Session

        return Session.from_file(self.path, entry=self.entry, call=self.call, options=self.options,
                                 predictor=self.predictor)


class NeuroDebugApp(App):
    """``neurodebug tui``: the main screen over one session."""

    CSS_PATH = "app.tcss"
    TITLE = "neurodebug"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, spec: SessionSpec, **kw) -> None:
        super().__init__(**kw)
        self.spec = spec
        self.main: MainScreen | None = None

    def get_default_screen(self) -> MainScreen:
        self.main = MainScreen(self.spec)
        return self.main

    def on_mount(self) -> None:
        self.sub_title = self.spec.path

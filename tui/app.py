"""The neurodebug TUI: the predicted execution next to the real one, one step at a time.

A view over :class:`neurodebug.session.Session`: the app holds what to debug and shows the
main screen (:mod:`neurodebug.tui.screens.main`), where the session, its keys and its state
live; help and edit are modal screens on top of it. Every failure is shown as one sentence in
the notice line; the app never shows a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from neurodebug.tui.screens.main import MainScreen
from textual.app import App

if TYPE_CHECKING:
    from neurodebug.session import Session


@dataclass
class SessionSpec:
    """What to debug and with which model; the session is built from it in a worker thread.

    ``predictor`` (a ready backends.Predictor) wins over ``model``/``backend``/``url``/``device``.
    ``session_kw`` goes to ``Session.from_file`` as is (temperature, top_p, seed, limits, ...).
    """

    path: str
    entry: str | None = None
    call: str | None = None
    model: str | None = None
    backend: str = "local"
    url: str | None = None
    device: str = "cpu"
    run_real: bool = True
    lookahead: bool = True  # several tokens per forward on the local backend (make_predictor)
    predictor: Any = None
    session_kw: dict[str, Any] = field(default_factory=dict)

    def open(self, on_model: Callable[[str], None]) -> Session:
        """The session (loads the model and runs the code: call it in a worker thread);
        ``on_model`` hears the model's name as soon as it is known."""
        from neurodebug.session import Session

        predictor = self.predictor
        if predictor is None:
            from neurodebug.backends import make_predictor

            predictor = make_predictor(model=self.model, backend=self.backend, url=self.url, device=self.device,
                                       lookahead=self.lookahead)
        on_model(getattr(predictor, "name", type(predictor).__name__))
        return Session.from_file(self.path, entry=self.entry, call=self.call, predictor=predictor,
                                 run_real=self.run_real, **self.session_kw)


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

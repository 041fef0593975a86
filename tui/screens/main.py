"""The main screen: source, where we are, timeline, locals, value, status; pdb-like keys.

It holds the session and the state of what the user looks at (the session's view, the real
cursor, the teacher-forced view). Every key calls one session method in a worker thread
(loading a model and predicting take time); the screen stays responsive, shows what is under
way, and Escape cancels it through ``Session.cancel``. When the work ends the screen takes the
session's view; what the widgets show is computed from that state and bound to them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

from neurodebug.tui import present
from neurodebug.tui.screens.edit import EditScreen
from neurodebug.tui.screens.help import HelpScreen
from neurodebug.tui.widgets import LocalsTable, Notice, SourceView, StatusBar, Timeline, ValueDetail, WhereBar
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header

from neurodebug.errors import UserError
from neurodebug.view import SessionView, alternatives_text

if TYPE_CHECKING:
    from neurodebug.compare import TeacherForced
    from neurodebug.session import Session
    from neurodebug.tui.app import SessionSpec


def one_sentence(error: BaseException, doing: str) -> str:
    """A failure as the single sentence the user sees."""
    if isinstance(error, UserError):
        return str(error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{doing} failed: {type(error).__name__}{': ' + text if text else ''}."


class MainScreen(Screen):
    """The debugger: one session, stepped with pdb's keys, beside its real run."""

    BINDINGS = [
        Binding("s", "step", "step"),
        Binding("n", "next", "next"),
        Binding("o", "out", "out"),
        Binding("b", "back", "back"),
        Binding("c", "cont", "continue"),
        Binding("u", "run_to", "to line"),
        Binding("e", "edit", "edit"),
        Binding("r", "reset", "reset"),
        Binding("d", "divergence", "divergence"),
        Binding("left_square_bracket", "real(-1)", "real ◀", key_display="["),
        Binding("right_square_bracket", "real(1)", "real ▶", key_display="]"),
        Binding("t", "teacher", "teacher"),
        # in the help (?), not the footer: it has room for the moves only
        Binding("R", "take_real", "from real", key_display="R", show=False),
        Binding("x", "unsure", "unsure", key_display="x", show=False),
        Binding("a", "alternatives", "alternatives", key_display="a", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("escape", "cancel", "cancel", show=False),
        Binding("q", "quit", "quit"),
    ]

    #: How often the busy line re-reads the session's progress while a worker runs (seconds).
    PROGRESS_EVERY = 0.2

    # -- the state: the session's view, and how the user looks at it ---------------------------
    view: reactive[SessionView | None] = reactive(None)
    real_cursor: reactive[int | None] = reactive(None)  # real frame shown when moved apart with [ / ]
    teacher: reactive[bool] = reactive(False)  # the teacher-forced view is on
    model: reactive[str] = reactive("")  # the model's name, once it is known
    progress: reactive[str] = reactive("")  # the busy line while a worker runs
    # what the widgets show, computed from the state (bound to each of them in compose)
    shown: reactive[present.Shown | None] = reactive(None)

    def __init__(self, spec: SessionSpec) -> None:
        super().__init__()
        self.spec = spec
        self.session: Session | None = None
        self.busy: str = ""  # what the worker is doing, "" when idle
        self.failure: str | None = None  # the last failure sentence shown
        self.teacher_result: TeacherForced | None = None
        self._teacher_real = None  # the real trace the teacher-forced result scored
        self._tokens0 = 0  # length of the session's token state when the running work began
        self._cancelled = threading.Event()
        self._starting: Session | None = None  # the session while it starts (Escape cancels that)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Notice(id="notice")
        with Horizontal(id="main"):
            yield SourceView(id="source").data_bind(MainScreen.shown)
            with Vertical(id="side"):
                yield WhereBar(id="where").data_bind(MainScreen.shown)
                yield Timeline(id="timeline").data_bind(MainScreen.shown)
                yield LocalsTable(id="locals").data_bind(MainScreen.shown)
                yield ValueDetail(id="detail")
        yield StatusBar(id="status").data_bind(MainScreen.shown, MainScreen.model, busy=MainScreen.progress)
        yield Footer(compact=True, show_command_palette=False)

    def compute_shown(self) -> present.Shown | None:
        if self.view is None:
            return None
        teacher = self.teacher_result if self.teacher else None
        return present.shown(self.view, self.real_cursor, teacher, self.spec.options.run_real)

    def on_mount(self) -> None:
        self.say("")
        self.query_one(SourceView).focus()
        self.set_interval(self.PROGRESS_EVERY, self._show_progress)
        self._start("Loading", self._load)

    def say(self, message: str, error: bool = False) -> None:
        """One sentence in the notice line ("" clears it)."""
        self.query_one(Notice).say(message, error=error)

    # -- the worker ----------------------------------------------------------------------------
    def _start(self, doing: str, fn: Callable[[], Any], after: Callable[[Any], None] | None = None) -> bool:
        """Run ``fn`` in the worker thread unless something is already running."""
        if self.busy:
            self.say(f"{self.busy} is under way; press Escape to cancel it.", error=True)
            return False
        self.busy = doing
        self._tokens0 = len(self.session.state) if self.session is not None else 0
        self._cancelled.clear()
        self._show_progress()
        self._work(doing, fn, after)
        return True

    @work(thread=True, exclusive=True, group="session", exit_on_error=False)
    def _work(self, doing: str, fn: Callable[[], Any], after: Callable[[Any], None] | None) -> None:
        error = None
        result = None
        try:
            result = fn()
        except Exception as e:  # every failure becomes one sentence on screen
            error = one_sentence(e, doing)
        self.app.call_from_thread(self._finished, doing, result, error, after)

    def _finished(self, doing: str, result: Any, error: str | None, after) -> None:
        self.busy = ""
        self.progress = ""
        if error:
            self.say(error, error=True)
            self.failure = error
            if self.session is None:
                self._show_source_only()
        else:
            self.say("")
            if after is not None:
                after(result)
        if self._cancelled.is_set() and not error:
            self.say(f"{doing} cancelled; the session keeps the steps predicted so far.")
        self._take_view()

    def _take_view(self) -> None:
        """Read the session's view (the widgets follow it), and say when its step is malformed."""
        s = self.session
        if s is None:
            return
        if self.teacher and self._teacher_real is not s.real:
            # an edited argument re-ran the real code: the old scores are about another run
            self.teacher, self.teacher_result = False, None
        self.view = s.view()
        cur = self.view.current
        if cur is not None and cur.malformed and not self.query_one(Notice).message:
            self.say(f"The model's output for step {self.view.index + 1} is malformed ({cur.malformed}).", error=True)

    def _show_progress(self) -> None:
        if not self.busy:
            self.progress = ""
            return
        if self._cancelled.is_set():
            self.progress = f"Cancelling {self.busy.lower()}…"
            return
        s = self.session
        if s is None:
            self.progress = f"{self.busy}: reading the file, loading the model, running the code…"
            return
        n = len(s.frames)
        done = f"{n} step{'' if n == 1 else 's'} · {len(s.state) - self._tokens0} new tokens"
        self.progress = f"{self.busy}… {done} · Escape cancels"

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> None:
        from neurodebug.session import Cancelled

        self._starting = self.spec.session()
        try:
            self._starting.start()
        except Cancelled:
            raise UserError("Loading was cancelled; q quits.") from None
        self.app.call_from_thread(self._set_model, self._starting.predictor.name)
        self.session = self._starting

    def _set_model(self, name: str) -> None:
        self.model = name

    def _show_source_only(self) -> None:
        """Without a session, still show the file when it can be read (no markers)."""
        self.model = self.model or "not loaded"
        status = self.query_one(StatusBar)
        status.real, status.real_ok = "not run", False
        from neurodebug.trace.source import read_source

        try:
            self.query_one(SourceView).show(read_source(self.spec.path), None, None)
        except UserError:
            pass  # the notice line already says what is wrong

    # -- keys ----------------------------------------------------------------------------------
    def _session_or_say(self) -> Session | None:
        """The session when it can take a command now; else None, with a sentence saying why."""
        if self.busy:
            # one command at a time: the session is being changed by the worker
            self.say(f"{self.busy} is under way; press Escape to cancel it.", error=True)
            return None
        if self.session is None:
            self.say("There is no session to step through; see the message above or press q.", error=True)
        return self.session

    def _move(self, doing: str, method: str, *args) -> None:
        s = self._session_or_say()
        if s is None:
            return
        self.real_cursor = None
        self._start(doing, lambda: getattr(s, method)(*args))

    def action_step(self) -> None:
        self._move("Step", "step")

    def action_next(self) -> None:
        self._move("Next", "next")

    def action_out(self) -> None:
        self._move("Out", "out")

    def action_back(self) -> None:
        self._move("Back", "back")

    def action_cont(self) -> None:
        self._move("Continue", "cont")

    def action_run_to(self) -> None:
        view = self.query_one(SourceView)
        file = view.shown.file if view.shown is not None else None
        self._move("Run to line", "run_to", view.cursor_line, file)

    def action_take_real(self) -> None:
        """Continue from the real run: its frame at this step replaces the prediction, which goes on from it."""
        self._move("Continue from the real run", "take_real")

    def action_unsure(self) -> None:
        """Forward to the next step the model is unsure of (under the unsure_below option)."""
        self._move("To the next unsure step", "run_to_unsure")

    def action_alternatives(self) -> None:
        """The model's most likely values of the selected local at this step, with their probabilities."""
        s = self._session_or_say()
        row = self.query_one(LocalsTable).selected
        if s is None or row is None:
            return
        self._start(f"Alternatives of {row.name}", lambda: s.alternatives(s.index, row.name),
                    lambda found: self.say(f"{row.name}: {alternatives_text(found)}" if found else
                                           f"The model gives no alternative to {row.name} here."))

    def action_reset(self) -> None:
        self._move("Reset", "reset")

    def action_edit(self) -> None:
        s = self._session_or_say()
        if s is None:
            return
        cur = s.current
        if cur is None or not cur.locals:
            self.say("The current step has no variables to edit.", error=True)
            return
        row = self.query_one(LocalsTable).selected
        name = row.name if row is not None and row.name in cur.locals else next(iter(cur.locals))
        self.app.push_screen(EditScreen(list(cur.locals), name, cur.locals[name], step=s.index + 1), self._edited)

    def _edited(self, result: tuple[str, str] | None) -> None:
        if result is None:
            return
        name, value = result
        self._move(f"Setting {name}", "set_local", name, value)

    def action_divergence(self) -> None:
        s = self._session_or_say()
        if s is None:
            return
        if self.teacher and self.teacher_result is not None:
            div = self.teacher_result.first_divergence
            if div is None:
                self.say("Teacher-forced, the model reproduces every real step.")
                return
            self.real_cursor = min(div.step, len(s.real.frames) - 1)
            self.say(div.message)
            return
        if s.real is None:
            self.say("There is no real run to compare with.", error=True)
            return
        div = self.view.divergence
        if div is None or (div.kind == "length" and not s.ended and div.step >= len(s.frames)):
            self.say(f"No divergence in the {len(s.frames)} steps predicted so far.")
            return
        target = min(div.step, len(s.frames) - 1)
        self.real_cursor = None

        def back_to_divergence() -> None:
            # the session's frames end at its current step: going back to the divergence drops
            # the steps after it (they are predicted again, identically when greedy, on s/c)
            s.back_to(target)

        self._start("Jump to divergence", back_to_divergence, after=lambda _: self.say(div.message))

    def action_real(self, delta: int) -> None:
        s = self._session_or_say()
        if s is None:
            return
        if s.real is None or not s.real.frames:
            self.say("There is no real trace to move through.", error=True)
            return
        start = self.real_cursor if self.real_cursor is not None else self.view.real_index
        if start is None:
            start = -1 if delta > 0 else len(s.real.frames)
        self.real_cursor = max(0, min(len(s.real.frames) - 1, start + delta))

    def action_teacher(self) -> None:
        s = self._session_or_say()
        if s is None:
            return
        if self.teacher:
            self.teacher = False
            return
        if s.real is None:
            self.say("Teacher-forced comparison needs a real run.", error=True)
            return
        if self.teacher_result is not None and self._teacher_real is s.real:
            self.teacher = True
            return

        def done(result) -> None:
            if result is None:  # cancelled: stay in the free-running view
                return
            self.teacher_result = result
            self._teacher_real = s.real
            self.teacher = True

        self._start("Teacher-forced comparison", s.teacher_forced, after=done)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS))

    def action_cancel(self) -> None:
        s = self.session or self._starting
        if self.busy and s is not None:
            self._cancelled.set()
            s.cancel()
            self.progress = f"Cancelling {self.busy.lower()}…"

    def action_quit(self) -> None:
        s = self.session or self._starting
        if self.busy and s is not None:
            s.cancel()
        self.app.exit()

    def on_locals_table_value_selected(self, message: LocalsTable.ValueSelected) -> None:
        self.query_one(ValueDetail).show(message.row)

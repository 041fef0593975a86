"""The neurodebug TUI: the predicted execution next to the real one, one step at a time.

A view over :class:`neurodebug.session.Session`. Every key calls one session method in a worker
thread (loading a model and predicting take time); the interface stays responsive, shows what is
under way, and Escape cancels it through ``Session.cancel``. Every failure is shown as one
sentence in the notice line; the app never shows a traceback.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from neurodebug.tui import present
from neurodebug.tui.screens.edit import EditScreen
from neurodebug.tui.screens.help import HelpScreen
from neurodebug.tui.widgets import LocalsTable, Notice, SourceView, StatusBar, Timeline, ValueDetail, WhereBar
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Footer, Header

from neurodebug.errors import UserError


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
    predictor: Any = None
    session_kw: dict[str, Any] = field(default_factory=dict)


def one_sentence(error: BaseException, doing: str) -> str:
    """A failure as the single sentence the user sees."""
    if isinstance(error, UserError):
        return str(error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{doing} failed: {type(error).__name__}{': ' + text if text else ''}."


class NeuroDebugApp(App):
    """``neurodebug tui``: source, locals, where we are, status; pdb-like keys."""

    CSS_PATH = "app.tcss"
    TITLE = "neurodebug"
    ENABLE_COMMAND_PALETTE = False

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
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("escape", "cancel", "cancel", show=False),
        Binding("q", "quit", "quit"),
    ]

    #: How often the busy line re-reads the session's progress while a worker runs (seconds).
    PROGRESS_EVERY = 0.2

    def __init__(self, spec: SessionSpec, **kw) -> None:
        super().__init__(**kw)
        self.spec = spec
        self.session = None
        self.busy: str = ""  # what the worker is doing, "" when idle
        self.real_cursor: int | None = None  # real frame shown when moved apart with [ / ]
        self.teacher = False
        self.teacher_result = None
        self._teacher_real = None  # the real trace the teacher-forced result scored
        self.failure: str | None = None  # the last failure sentence shown
        self._tokens0 = 0  # length of the session's token state when the running work began
        self._cancelled = threading.Event()

    @property
    def _main(self):
        """The main screen (``query_one`` on the app would search a help or edit screen on top)."""
        return self.screen_stack[0]

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Notice(id="notice")
        with Horizontal(id="main"):
            yield SourceView(id="source")
            with Vertical(id="side"):
                yield WhereBar(id="where")
                yield Timeline(id="timeline")
                yield LocalsTable(id="locals")
                yield ValueDetail(id="detail")
        yield StatusBar(id="status")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = self.spec.path
        self._main.query_one(Notice).say("")
        self._main.query_one("#source").border_title = "source  ▶ predicted  ● real"
        self._main.query_one("#where").border_title = "where"
        self._main.query_one("#timeline").border_title = "timeline"
        self._main.query_one("#locals").border_title = "locals"
        self._main.query_one("#detail").border_title = "value"
        self._main.query_one(SourceView).focus()
        self.set_interval(self.PROGRESS_EVERY, self._show_progress)
        self._start("Loading", self._load)

    # -- the worker ----------------------------------------------------------------------------
    def _start(self, doing: str, fn: Callable[[], Any], after: Callable[[Any], None] | None = None) -> bool:
        """Run ``fn`` in the worker thread unless something is already running."""
        if self.busy:
            self._main.query_one(Notice).say(f"{self.busy} is under way; press Escape to cancel it.", error=True)
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
        self.call_from_thread(self._finished, doing, result, error, after)

    def _finished(self, doing: str, result: Any, error: str | None, after) -> None:
        self.busy = ""
        notice = self._main.query_one(Notice)
        if error:
            notice.say(error, error=True)
            self.failure = error
            if self.session is None:
                status = self._main.query_one(StatusBar)
                status.model = status.model or "not loaded"
                status.real, status.real_ok = "not run", False
                self._show_source_only()
        else:
            notice.say("")
            if after is not None:
                after(result)
        if self._cancelled.is_set() and not error:
            notice.say(f"{doing} cancelled; the session keeps the steps predicted so far.")
        self.refresh_view()

    def _show_progress(self) -> None:
        try:
            status = self._main.query_one(StatusBar)
        except (NoMatches, IndexError):  # the app is shutting down
            return
        if not self.busy:
            status.busy = ""
            return
        s = self.session
        if s is None:
            status.busy = f"{self.busy}: reading the file, loading the model, running the code…"
            return
        n = len(s.frames)
        done = f"{n} step{'' if n == 1 else 's'} · {len(s.state) - self._tokens0} new tokens"
        status.busy = f"{self.busy}… {done} · Escape cancels"

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> None:
        from neurodebug.session import Session

        spec = self.spec
        predictor = spec.predictor
        if predictor is None:
            from neurodebug.backends import make_predictor

            predictor = make_predictor(model=spec.model, backend=spec.backend, url=spec.url, device=spec.device)
        self.call_from_thread(self._set_model_name, predictor)
        session = Session.from_file(
            spec.path, entry=spec.entry, call=spec.call, predictor=predictor, run_real=spec.run_real, **spec.session_kw
        )
        self.session = session

    def _show_source_only(self) -> None:
        """Without a session, still show the file when it can be read (no markers)."""
        try:
            with open(self.spec.path, encoding="utf-8-sig") as f:
                self._main.query_one(SourceView).show(f.read(), None, None)
        except (OSError, UnicodeDecodeError):
            pass

    def _set_model_name(self, predictor) -> None:
        self._main.query_one(StatusBar).model = getattr(predictor, "name", type(predictor).__name__)

    # -- keys ----------------------------------------------------------------------------------
    def _session_or_say(self):
        """The session when it can take a command now; else None, with a sentence saying why."""
        notice = self._main.query_one(Notice)
        if self.busy:
            # one command at a time: the session is being changed by the worker
            notice.say(f"{self.busy} is under way; press Escape to cancel it.", error=True)
            return None
        if self.session is None:
            notice.say("There is no session to step through; see the message above or press q.", error=True)
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
        self._move("Run to line", "run_to", self._main.query_one(SourceView).cursor_line)

    def action_reset(self) -> None:
        self._move("Reset", "reset")

    def action_edit(self) -> None:
        s = self._session_or_say()
        if s is None:
            return
        cur = s.current
        if cur is None or not cur.locals:
            self._main.query_one(Notice).say("The current step has no variables to edit.", error=True)
            return
        row = self._main.query_one(LocalsTable).selected
        name = row.name if row is not None and row.name in cur.locals else next(iter(cur.locals))
        self.push_screen(EditScreen(list(cur.locals), name, cur.locals[name], step=s.index + 1), self._edited)

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
                self._main.query_one(Notice).say("Teacher-forced, the model reproduces every real step.")
                return
            self.real_cursor = min(div.step, len(s.real.frames) - 1)
            self._main.query_one(Notice).say(div.message)
            self.refresh_view(keep_notice=True)
            return
        if s.real is None:
            self._main.query_one(Notice).say("There is no real run to compare with.", error=True)
            return
        div = s.comparison().first_divergence
        if div is None or (div.kind == "length" and not s.ended and div.step >= len(s.frames)):
            self._main.query_one(Notice).say(f"No divergence in the {len(s.frames)} steps predicted so far.")
            return
        target = min(div.step, len(s.frames) - 1)
        message = div.message
        self.real_cursor = None

        def back_to_divergence() -> None:
            # the session's frames end at its current step: going back to the divergence drops
            # the steps after it (they are predicted again, identically when greedy, on s/c)
            while s.index > target:
                before = s.index
                s.back()
                if s.index == before:
                    break

        self._start("Jump to divergence", back_to_divergence, after=lambda _: self._main.query_one(Notice).say(message))

    def action_real(self, delta: int) -> None:
        s = self._session_or_say()
        if s is None:
            return
        if s.real is None or not s.real.frames:
            self._main.query_one(Notice).say("There is no real trace to move through.", error=True)
            return
        start = self.real_cursor if self.real_cursor is not None else self._aligned_real_index()
        if start is None:
            start = -1 if delta > 0 else len(s.real.frames)
        self.real_cursor = max(0, min(len(s.real.frames) - 1, start + delta))
        self.refresh_view()

    def action_teacher(self) -> None:
        s = self._session_or_say()
        if s is None:
            return
        if self.teacher:
            self.teacher = False
            self.refresh_view()
            return
        if s.real is None:
            self._main.query_one(Notice).say("Teacher-forced comparison needs a real run.", error=True)
            return
        if self.teacher_result is not None and self._teacher_real is s.real:
            self.teacher = True
            self.refresh_view()
            return

        def done(result) -> None:
            if result is None:  # cancelled: stay in the free-running view
                return
            self.teacher_result = result
            self._teacher_real = s.real
            self.teacher = True

        self._start("Teacher-forced comparison", lambda: s.comparison(teacher_forced=True), after=done)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    def action_cancel(self) -> None:
        if self.busy and self.session is not None:
            self._cancelled.set()
            self.session.cancel()
            self._main.query_one(StatusBar).busy = f"Cancelling {self.busy.lower()}…"
        elif self.busy:
            self._main.query_one(Notice).say("Loading cannot be interrupted; it stops by itself (q quits after it).")

    async def action_quit(self) -> None:
        if self.busy and self.session is not None:
            self.session.cancel()
        self.exit()

    # -- display -------------------------------------------------------------------------------
    def _aligned_real_index(self) -> int | None:
        s = self.session
        if s is None or s.real is None or s.index < 0:
            return None
        rf = s.real_frame(s.index)
        if rf is None:
            return None
        for j, f in enumerate(s.real.frames):
            if f is rf:
                return j
        return None

    def refresh_view(self, keep_notice: bool = False) -> None:
        """Read the session and show it; called after every change, on the UI thread."""
        s = self.session
        status = self._main.query_one(StatusBar)
        status.busy = ""
        source = self._main.query_one(SourceView)
        if s is None:
            return
        frames = list(s.frames)
        index = s.index
        cur = frames[index] if 0 <= index < len(frames) else None
        real_frames = s.real.frames if s.real is not None else None
        detached = self.real_cursor is not None
        real_index = self.real_cursor if detached else self._aligned_real_index()
        real = real_frames[real_index] if real_frames is not None and real_index is not None else None

        if self.teacher and self._teacher_real is not s.real:
            # an edited argument re-ran the real code: the old scores are about another run
            self.teacher, self.teacher_result = False, None
        teacher = self.teacher_result if self.teacher else None

        # what the predicted column shows: the session's current frame, or, teacher-forced, what
        # the model predicts for the real step under the real cursor given the real past
        shown, shown_changed = cur, present.changed_names(frames, index)
        if teacher is not None and real_index is not None and real_index < len(teacher.frames):
            score = teacher.frames[real_index]
            shown = score.real if score.ok else score.alternative
            shown_changed = present.changed_names(real_frames, real_index) if score.ok else set()
        source.show(s.source, shown.line if shown else None, real.line if real else None)
        r_changed = present.changed_names(real_frames, real_index) if real is not None else set()
        rows = present.local_rows(shown, real, shown_changed, r_changed)
        self._main.query_one(LocalsTable).show(rows)
        self._main.query_one(LocalsTable).border_title = "locals · teacher-forced" if teacher else "locals"
        if not rows:
            self._main.query_one(ValueDetail).show(None)
        self._main.query_one(WhereBar).show(
            present.where(frames, index, s.ended, s.end, real_index, len(real_frames) if real_frames else None, detached)
        )
        if teacher is not None:
            marks = present.teacher_marks(teacher.ok)
            self._main.query_one(Timeline).show(marks, real_index if real_index is not None else -1, None)
            m = teacher.metrics
            status.mode = f"teacher-forced: state {_pct(m.state_exact)}, action {_pct(m.action_exact)}"
        else:
            comp_rows = s.comparison().rows if s.real is not None else None
            marks = present.timeline_marks(len(frames), frames, comp_rows, s.ended, len(real_frames) if real_frames else None)
            self._main.query_one(Timeline).show(marks, index, real_index if detached else None)
            status.mode = ""
        status.model = getattr(s.predictor, "name", "") if hasattr(s, "predictor") else status.model
        status.tokens_per_s = s.last_tokens_per_s
        speed = getattr(s, "speed", None)
        status.frames_per_s = speed.frames_per_s if speed is not None else None
        status.forwards_per_frame = speed.forwards_per_frame if speed is not None else None
        status.real, status.real_ok = present.real_outcome(s.real, s.real_note, self.spec.run_real)
        if cur is not None and cur.malformed and not keep_notice and not self._main.query_one(Notice).message:
            self._main.query_one(Notice).say(f"The model's output for step {index + 1} is malformed ({cur.malformed}).", error=True)

    def on_locals_table_value_selected(self, message: LocalsTable.ValueSelected) -> None:
        self._main.query_one(ValueDetail).show(message.row)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"

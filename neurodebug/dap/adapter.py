"""The debug adapter: DAP requests in, Session operations and DAP events out.

Requests are read on one thread. Those that only read (threads, stackTrace, scopes, variables,
evaluate) are answered there from the last :class:`~neurodebug.dap.SessionView`; those that
change the session (launch, the steps, setVariable, restart) run one at a time in a worker
thread, so the reader keeps answering, and ``pause``/``cancel`` reach a running prediction
through ``Session.cancel``. Steps are answered at once and end with a ``stopped`` event.
Loading a model cannot be interrupted: a ``terminate`` or ``disconnect`` during a load answers
the request that waits on it as cancelled and ends the debug session at once; the load's result
is dropped.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import dap_types as dap

from neurodebug.dap import views
from neurodebug.view import SessionView
from neurodebug.dap.launch import LaunchConfig, check_entry, default_predictor, new_session
from neurodebug.dap.panes import Panes
from neurodebug.dap.protocol import BadMessage, Writer, parse_request
from neurodebug.dap.worker import Worker
from neurodebug.errors import UserError
from neurodebug.confidence import unsure
from neurodebug.trace.context import CALL_FILE, call_text
from neurodebug.view import sure_text

#: The sourceReference of a call expression's own function (trace.context.CALL_FILE), which is in
#: no file: the client asks for its text with a source request.
CALL_SOURCE = 1
THREAD_ID = 1
THREAD_NAME = "predicted execution"
DIVERGENCE, EXCEPTION, UNSURE = "divergence", "exception", "unsure"
FILTERS = [
    dap.ExceptionBreakpointsFilter(filter=DIVERGENCE, label="Where the model and the real run part", default=True,
                                   description="Stop on the first frame where the prediction differs from the real run."),
    dap.ExceptionBreakpointsFilter(filter=EXCEPTION, label="Predicted exception", default=True,
                                   description="Stop where the model predicts that an exception is raised."),
    dap.ExceptionBreakpointsFilter(filter=UNSURE, label="Where the model is unsure", default=False, supportsCondition=True,
                                   conditionDescription="The probability under which a step is unsure, e.g. 0.5 "
                                                        "(empty: the unsureBelow launch attribute)",
                                   description="Stop on a predicted step the model gave less than the threshold."),
]
CAPABILITIES = dap.Capabilities(
    supportsConfigurationDoneRequest=True, supportsStepBack=True, supportsSetVariable=True,
    supportsRestartRequest=True, supportsEvaluateForHovers=True, supportsTerminateRequest=True,
    supportsCancelRequest=True, supportsExceptionInfoRequest=True, exceptionBreakpointFilters=FILTERS,
    supportsConditionalBreakpoints=False, supportsHitConditionalBreakpoints=False, supportsLogPoints=False,
    supportsDataBreakpoints=True,
)
#: How long a launch waits for configurationDone before it runs without it.
CONFIGURATION_TIMEOUT_S = 10.0
NO_CONDITIONS = "Conditions are not evaluated: neurodebug runs no code in the adapter."


class Predictors:
    """Loaded predictors by (model, backend, url, device), shared by the sessions of one process."""

    def __init__(self, factory: Callable[[LaunchConfig], Any] = default_predictor):
        self.factory = factory
        self._loaded: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, config: LaunchConfig):
        with self._lock:
            key = config.predictor_key()
            if key not in self._loaded:
                self._loaded[key] = self.factory(config)
            return self._loaded[key]


class Adapter:
    """One debug session of one client (see the module docstring)."""

    def __init__(self, out: Writer, predictors: Predictors | None = None):
        self.out = out
        self.predictors = predictors or Predictors()
        self.client = dap.InitializeRequestArguments(adapterID="neurodebug")
        self.config: LaunchConfig | None = None
        self.source = ""
        self.runnable: frozenset[int] = frozenset()
        self.session = None
        self.stop: SessionView | None = None
        self.panes = Panes()
        self.breakpoints: dict[int, int] = {}  # line -> breakpoint id
        self.data_breakpoints: dict[str, int] = {}  # dataId ("function:local") -> breakpoint id
        self.unsure_below: float | None = None  # the "unsure" filter's condition, when it has one
        self._next_breakpoint = 1
        self.filters = {f.filter for f in FILTERS if f.default}
        self.exception: dap.ExceptionInfoResponseBody | None = None  # of the current stop, when it is one
        self.done = False
        self.over = False  # terminated (by the client, or at the end): no more stops
        self._initialized_sent = False
        self._configured = threading.Event()
        self._halt = threading.Event()
        self._pending: set[int] = set()  # seqs of the requests the worker is carrying out or will
        self._cancellable: dict[str, int] = {}  # progress id -> request seq, while it runs
        self._divergence_before = None  # the first divergence when the current forward move began
        self._lock = threading.Lock()
        self._loading = threading.Event()  # a load is queued or under way in the worker
        self._awaiting_load = None  # the request whose answer waits on that load, until it is answered
        self._starting = None  # the session while it starts
        self._worker = Worker("neurodebug-dap")
        self._handlers: dict[str, Callable[[Any], Any]] = {
            "initialize": self.initialize, "launch": self.launch, "attach": self.attach,
            "setBreakpoints": self.set_breakpoints, "setExceptionBreakpoints": self.set_exception_breakpoints,
            "configurationDone": self.configuration_done, "threads": self.threads,
            "stackTrace": self.stack_trace, "scopes": self.scopes, "variables": self.variables,
            "next": self.next, "stepIn": self.step_in, "stepOut": self.step_out, "stepBack": self.step_back,
            "continue": self.continue_, "reverseContinue": self.reverse_continue, "pause": self.pause,
            "cancel": self.cancel, "setVariable": self.set_variable, "evaluate": self.evaluate,
            "exceptionInfo": self.exception_info, "restart": self.restart, "terminate": self.terminate,
            "disconnect": self.disconnect, "source": self.source_text,
            "dataBreakpointInfo": self.data_breakpoint_info, "setDataBreakpoints": self.set_data_breakpoints, "neurodebug/takeReal": self.take_real,
        }

    # -- dispatch -----------------------------------------------------------------------------------

    def handle(self, message: dict) -> None:
        """Answer one message (a response now, or later from the worker for the long requests)."""
        try:
            request = parse_request(message)
            handler = self._handlers.get(request.command)
            if handler is None:
                raise BadMessage(f"neurodebug does not support the {request.command!r} request.",
                                 request.seq, request.command)
            body = handler(request)
        except BadMessage as e:
            self.bad(e)
            return
        except UserError as e:
            self.out.fail(request.seq, request.command, str(e))
            return
        except Exception as e:  # noqa: BLE001 - a bug must not take the adapter down; the traceback goes to stderr
            traceback.print_exc(file=sys.stderr)
            self.out.fail(request.seq, request.command, f"neurodebug failed unexpectedly ({type(e).__name__}: {e}).")
            return
        if body is not LATER:
            self.out.respond(request.seq, request.command, body)

    def bad(self, e: BadMessage) -> None:
        """A message that cannot be carried out: an error response when it has a seq, else an output event."""
        if e.seq is not None:
            self.out.fail(e.seq, e.command or "unknown", str(e))
        else:
            self.out.event("output", dap.OutputEventBody(category="important", output=f"neurodebug: {e}\n"))

    def close(self) -> None:
        """The client is gone: stop what runs and let the worker end (a load is not waited for)."""
        self.done = True
        self._interrupt()
        self._cancel_load()
        self._configured.set()
        self._worker.close(wait=not self._loading.is_set())

    def _submit(self, request, work: Callable[[], None], answers: bool = False) -> None:
        """Run ``work`` in the worker thread. ``answers``: the request is answered by ``work`` (an error
        response on UserError); otherwise it was answered already and a failure is reported as output
        and a stop, so the UI is never left running."""

        def run():
            try:
                with self._failures(request, answered=not answers):
                    work()
            finally:
                self._pending.discard(request.seq)
                if not self._pending:
                    self._halt.clear()

        self._pending.add(request.seq)
        self._worker.submit(run)

    @contextmanager
    def _failures(self, request, answered: bool):
        """A UserError (or a bug) in session work: an error response when the request is not
        answered yet; else the sentence as output and a stop, so the UI is never left running."""
        try:
            yield
        except UserError as e:
            sentence = str(e)
        except Exception as e:  # noqa: BLE001 - a bug must not take the adapter down; the traceback goes to stderr
            traceback.print_exc(file=sys.stderr)
            sentence = f"neurodebug failed unexpectedly ({type(e).__name__}: {e})."
        else:
            return
        if not answered:
            self.out.fail(request.seq, request.command, sentence)
            return
        self.out.event("output", dap.OutputEventBody(category="important", output=f"neurodebug: {sentence}\n"))
        if self.session is not None and self.session.current is not None:
            self._stopped("pause", sentence)

    # -- configuration --------------------------------------------------------------------------------

    def initialize(self, request: dap.InitializeRequest):
        self.client = request.arguments
        return CAPABILITIES

    def attach(self, request):
        raise UserError("neurodebug cannot attach to a running program; use a launch configuration.")

    def launch(self, request: dap.LaunchRequest):
        from neurodebug.trace.source import read_source

        if self.config is not None:
            raise UserError("This debug session has already launched a prediction; restart it instead.")
        config = LaunchConfig.parse(request.arguments.model_dump(by_alias=True) if request.arguments else None)
        program = os.path.abspath(config.program)
        config = config.model_copy(update={"program": program})
        self.source = read_source(program)
        check_entry(config, self.source)
        self.runnable = views.runnable_lines(self.source)
        self.config = config
        if not self._initialized_sent:  # now breakpoints can be verified against the program
            self._initialized_sent = True
            self.out.event("initialized")

        def work():
            try:
                session = self._load(request, config)
            except BaseException:
                self.config = None  # a later launch may try again
                raise
            if session is None:
                return
            self.session = session
            self.out.respond(request.seq, request.command)
            with self._failures(request, answered=True):
                self._announce()
                self._configured.wait(CONFIGURATION_TIMEOUT_S)
                self._begin(request)

        self._expect_load(request)
        self._submit(request, work, answers=True)
        return LATER

    def _expect_load(self, request) -> None:
        """``request`` is answered after a load, which the worker will make (see :meth:`_load`)."""
        self._loading.set()
        with self._lock:
            self._awaiting_load = request

    def _load(self, request, config: LaunchConfig):
        """A session on ``config``: its model loaded (once per process) and its real run made. Nothing
        interrupts that; a terminate or disconnect meanwhile answers ``request`` as cancelled (see
        :meth:`_cancel_load`), and then this drops the session and returns None."""
        try:
            title = "Loading the model" + (" and running the program" if config.options.run_real else "")
            with self._progress(request, title, cancellable=False):
                session = self._open(config)
        except BaseException:
            if self._still_awaited(request):
                raise
            return None
        finally:
            self._loading.clear()
        return session if self._still_awaited(request) else None

    def _still_awaited(self, request) -> bool:
        """Whether the worker is still to answer ``request`` (no terminate or disconnect did); it is now."""
        with self._lock:
            awaited = self._awaiting_load is request
            self._awaiting_load = None
        return awaited

    def _cancel_load(self) -> None:
        """The debug session ends during a load: answer the request waiting on it now, as cancelled,
        and cancel the session's start."""
        starting = self._starting
        if starting is not None:
            starting.cancel()
        with self._lock:
            request, self._awaiting_load = self._awaiting_load, None
        if request is not None:
            self.out.cancelled(request.seq, request.command)

    def _open(self, config: LaunchConfig):
        """The started session; a terminate or disconnect meanwhile cancels its start (the model's
        load itself runs to its end)."""
        session = new_session(config, self.predictors.get(config))
        self._starting = session
        try:
            return session.start()
        finally:
            self._starting = None

    def _announce(self) -> None:
        s = self.session
        name = s.predictor.name
        call = call_text(s.entry, s.call) if s.call is not None else f"{s.entry} (the model proposes its arguments)"
        lines = [f"neurodebug: predicting {call} with {name}."]
        if s.real_note:
            lines.append(s.real_note)
        self._output("\n".join(lines) + "\n")

    def _begin(self, request) -> None:
        """After launch or restart: stop on the call frame, or run to the first breakpoint."""
        self.stop = self.session.view()
        if self.stop.ended:  # the model ended the trace at once
            self._output(views.summary(self.stop))
        if self.stop.index < 0:  # no call frame (its prediction was cancelled): nothing to show
            self._terminate()
        elif self.config.stopOnEntry:
            self._stopped("entry", "The call frame: the arguments of the prediction.")
        else:
            self._forward(lambda s: self._run_to_breakpoint(s, request))

    def set_breakpoints(self, request: dap.SetBreakpointsRequest):
        args = request.arguments
        wanted = args.breakpoints or [dap.SourceBreakpoint(line=line) for line in (args.lines or [])]
        ours = self.config is not None and args.source.path is not None \
            and os.path.realpath(self._path_in(args.source.path)) == os.path.realpath(self.config.program)
        result, lines = [], {}
        for bp in wanted:
            line = self._line_in(bp.line)
            if not ours:
                why = "Breakpoints apply only to the program being predicted."
                result.append(dap.Breakpoint(verified=False, line=bp.line, message=why, reason="failed"))
            elif bp.condition or bp.hitCondition or bp.logMessage:
                result.append(dap.Breakpoint(verified=False, line=bp.line, message=NO_CONDITIONS, reason="failed"))
            elif line not in self.runnable:
                result.append(dap.Breakpoint(verified=False, line=bp.line, message=views.not_runnable(line), reason="failed"))
            else:
                lines[line] = self.breakpoints.get(line) or self._new_breakpoint_id()
                result.append(dap.Breakpoint(id=lines[line], verified=True, line=bp.line, source=args.source))
        if ours:
            self.breakpoints = lines
        return dap.SetBreakpointsResponseBody(breakpoints=result)

    def _new_breakpoint_id(self) -> int:
        self._next_breakpoint += 1
        return self._next_breakpoint - 1

    def data_breakpoint_info(self, request: dap.DataBreakpointInfoRequest):
        """A predicted local can be watched: the data breakpoint stops where its value changes, in
        every call of its function (the real run's values are what ran: nothing to watch there)."""
        args = request.arguments
        stop = self._stopped_state()
        key = self.panes.refs.key(args.variablesReference) if args.variablesReference else None
        if args.variablesReference and (key is None or key[0] != "predicted" or len(key) != 2):
            # a dict, not the model: the protocol wants "dataId": null written out, which dump leaves out
            return {"dataId": None,
                    "description": "Only a local of the predicted frame can be watched, not an item or a real value."}
        i = key[1] if key is not None else self._frame_index(args.frameId, stop)
        func = stop.frames[i].func or stop.entry
        return dap.DataBreakpointInfoResponseBody(dataId=views.data_id(func, args.name), accessTypes=["write"],
                                                  description=f"When {args.name} changes in {func}", canPersist=False)

    def set_data_breakpoints(self, request: dap.SetDataBreakpointsRequest) -> dap.SetDataBreakpointsResponseBody:
        result, kept = [], {}
        for bp in request.arguments.breakpoints:
            if bp.condition or bp.hitCondition:
                result.append(dap.Breakpoint(verified=False, message=NO_CONDITIONS, reason="failed"))
            elif views.watched(bp.dataId) is None:
                result.append(dap.Breakpoint(verified=False, message=f"{bp.dataId!r} is not a local to watch.", reason="failed"))
            else:
                kept[bp.dataId] = self.data_breakpoints.get(bp.dataId) or self._new_breakpoint_id()
                result.append(dap.Breakpoint(id=kept[bp.dataId], verified=True))
        self.data_breakpoints = kept
        return dap.SetDataBreakpointsResponseBody(breakpoints=result)

    def set_exception_breakpoints(self, request: dap.SetExceptionBreakpointsRequest):
        known = {f.filter for f in FILTERS}
        asked = list(request.arguments.filters) + [o.filterId for o in request.arguments.filterOptions or []]
        self.filters = {f for f in asked if f in known}
        conditions = {o.filterId: (o.condition or "").strip() for o in request.arguments.filterOptions or []}
        self.unsure_below = views.threshold(conditions.get(UNSURE))  # None: the session's option
        return dap.SetExceptionBreakpointsResponseBody(breakpoints=[
            dap.Breakpoint(verified=f in known, message=None if f in known else f"There is no exception filter {f!r}.")
            for f in asked])

    def configuration_done(self, request):
        self._configured.set()

    # -- reading the stop -----------------------------------------------------------------------------

    def threads(self, request):
        return dap.ThreadsResponseBody(threads=[dap.Thread(id=THREAD_ID, name=THREAD_NAME)])

    def stack_trace(self, request: dap.StackTraceRequest):
        stop = self.stop
        if stop is None:
            return dap.StackTraceResponseBody(stackFrames=[], totalFrames=0)
        stack = views.call_stack(stop.frames, stop.index)
        start = request.arguments.startFrame or 0
        levels = request.arguments.levels or len(stack)
        frames = [self._stack_frame(stop, i) for i in stack[start:start + levels]]
        return dap.StackTraceResponseBody(stackFrames=frames, totalFrames=len(stack))

    def _stack_frame(self, stop: SessionView, i: int) -> dap.StackFrame:
        f = stop.frames[i]
        hint = "subtle" if f.malformed else None
        return dap.StackFrame(id=i + 1, name=views.frame_name(f, stop.entry, stop.call), source=self._source(stop, f),
                              line=self._line_out(f.line) if f.line else 0, column=1, presentationHint=hint)

    def _source(self, stop: SessionView | None = None, f=None) -> dap.Source:
        """The file of a frame (the program's, another file of its project, or the call
        expression's function, whose text the source request gives)."""
        if f is not None and f.file == CALL_FILE:
            return dap.Source(name=CALL_FILE, sourceReference=CALL_SOURCE, presentationHint="deemphasize")
        path = (stop.path_of(f.file) if stop is not None and f is not None else None) or self.config.program
        shown = Path(path).as_uri() if self.client.pathFormat == "uri" else path
        return dap.Source(name=os.path.basename(path), path=shown)

    def source_text(self, request) -> dap.SourceResponseBody:
        """The text of a source without a path: the call expression's function."""
        stop = self.stop
        ref = request.arguments.sourceReference if request.arguments else 0
        if stop is None or ref != CALL_SOURCE or CALL_FILE not in stop.files:
            raise UserError(f"There is no source with the reference {ref}.")
        return dap.SourceResponseBody(content=stop.files[CALL_FILE], mimeType="text/x-python")

    def _path_in(self, path: str) -> str:
        """A path the client sent: a file URI when it asked for pathFormat "uri"."""
        if self.client.pathFormat == "uri" and path.startswith("file:"):
            return url2pathname(urlparse(path).path)
        return path

    def _frame_index(self, frame_id: int | None, stop: SessionView) -> int:
        i = stop.index if frame_id is None else frame_id - 1
        if not 0 <= i < len(stop.frames):
            raise UserError(f"There is no stack frame {frame_id} at this stop.")
        return i

    def scopes(self, request: dap.ScopesRequest):
        stop = self._stopped_state()
        return dap.ScopesResponseBody(scopes=self.panes.scopes(stop, self._frame_index(request.arguments.frameId, stop)))

    def variables(self, request: dap.VariablesRequest):
        args = request.arguments
        shown = self.panes.variables(self._stopped_state(), args.variablesReference, args.filter)
        start = args.start or 0
        return dap.VariablesResponseBody(variables=shown[start:start + (args.count or len(shown))])

    def evaluate(self, request: dap.EvaluateRequest):
        stop = self._stopped_state()
        i = self._frame_index(request.arguments.frameId, stop)
        body = self.panes.evaluate(stop, i, request.arguments.expression)
        if request.arguments.context == "hover":
            body = body.model_copy(update={"result": body.result + views.hover_note(self.session, stop, i,
                                                                                     request.arguments.expression)})
        return body

    def exception_info(self, request):
        if self.exception is None:
            raise UserError("The predicted execution is not stopped on an exception or a divergence.")
        return self.exception

    def _stopped_state(self) -> SessionView:
        if self.stop is None:
            raise UserError("There is no prediction yet: launch one first.")
        return self.stop

    # -- moving ------------------------------------------------------------------------------------------

    def next(self, request):
        return self._move(request, lambda s: self._once(s.next))

    def step_in(self, request):
        return self._move(request, lambda s: self._once(s.step))

    def step_out(self, request):
        return self._move(request, lambda s: self._once(s.out))

    def continue_(self, request):
        return self._move(request, lambda s: self._run_to_breakpoint(s, request))

    def take_real(self, request):
        """Continue from the real run (Session.take_real): the real frame at this step, then the
        model predicts on from it when the user steps or continues."""
        return self._move(request, self._take_real, forward=False)

    def _take_real(self, s) -> tuple[str, str | None, list[int] | None]:
        s.take_real()
        return "step", f"The real run's frame at step {s.index + 1}: the model predicts on from here.", None

    def step_back(self, request):
        return self._move(request, lambda s: self._back(s, to_breakpoint=False), forward=False)

    def reverse_continue(self, request):
        return self._move(request, lambda s: self._back(s, to_breakpoint=True), forward=False)

    def _move(self, request, action: Callable, forward: bool = True):
        """Answer a step request now; carry it out in the worker; end with a stopped event."""
        if self.session is None:
            raise UserError("There is no prediction yet: launch one first.")
        if self.over:
            raise UserError("The predicted execution has ended; restart to predict it again.")
        self.out.respond(request.seq, request.command,
                         dap.ContinueResponseBody(allThreadsContinued=True) if request.command == "continue" else None)
        self._submit(request, lambda: self._forward(action) if forward else self._backward(action))
        return LATER

    def _once(self, op: Callable) -> tuple[str, str | None, list[int] | None]:
        op()
        return "step", None, None

    def _run_to_breakpoint(self, s, request) -> tuple[str, str | None, list[int] | None]:
        """Predict frame by frame until a breakpoint's line, a filter's hit (reported by
        :meth:`_forward`), a pause, or the end."""
        with self._progress(request, "Predicting", cancellable=True) as progress:
            start = len(s.frames)
            while not s.ended and not self._halt.is_set():
                before = len(s.frames)
                f = s.step()
                if f is None or len(s.frames) == before:
                    break
                n = len(s.frames) - start
                progress(f"{n} frame{'s' if n != 1 else ''} predicted")
                if self._line_hit(s, f) is not None:
                    return "breakpoint", None, [self._line_hit(s, f)]
                changed = self._data_hits(s.frames, len(s.frames) - 1)
                if changed:
                    return "data breakpoint", views.changed_sentence(s.frames, len(s.frames) - 1, changed), \
                        [self.data_breakpoints[d] for d in changed]
                if self._filter_hit(s, f) is not None:
                    break
        return "step", None, None

    def _back(self, s, to_breakpoint: bool) -> tuple[str, str | None, list[int] | None]:
        """Undo frames: to the previous line of this function or a caller (step back, the reverse of
        next: a callee's frames are undone with its call), or to a breakpoint's line or the start."""
        depth = s.current.depth if s.current is not None else 0
        for i in range(s.index - 1, -1, -1):
            f = s.frames[i]
            if f.event not in ("call", "line"):
                continue
            if to_breakpoint and self._line_hit(s, f) is not None:
                s.back_to(i)
                return "breakpoint", None, [self._line_hit(s, f)]
            changed = self._data_hits(s.frames, i) if to_breakpoint else []
            if changed:
                description = views.changed_sentence(s.frames, i, changed)
                s.back_to(i)
                return "data breakpoint", description, [self.data_breakpoints[d] for d in changed]
            if not to_breakpoint and f.depth <= depth:
                s.back_to(i)
                return "step", None, None
        s.back_to(0)
        return "step", "The start of the predicted execution.", None

    def _line_hit(self, s, f) -> int | None:
        """The id of the breakpoint on ``f``'s line of the program (not a line of another file)."""
        if f.event in ("call", "line") and f.file == s.context.main:
            return self.breakpoints.get(f.line)
        return None

    def _data_hits(self, frames, i: int) -> list[str]:
        """The watched locals (dataIds) whose value predicted frame ``i`` changed."""
        return [d for d in self.data_breakpoints if views.changes(frames, i, d)]

    def _forward(self, action: Callable) -> None:
        """Carry out a forward move; stop with the right reason, or end the debug session at the end."""
        s = self.session
        before = self.stop
        if s.ended and before is not None and len(before.frames) == len(s.frames):
            self._terminate()  # nothing left to predict: like a program that exits
            return
        self._divergence_before = before.divergence if before is not None else None
        reason, description, hits = action(s)
        stop = self.stop = s.view()
        if stop.index < 0:
            self._output(views.summary(stop))
            self._terminate()
            return
        if self._halt.is_set():
            reason, description, hits = "pause", "Paused: the prediction was cancelled.", None
        elif before is None or len(stop.frames) != len(before.frames) or stop.ended != before.ended:
            hit = self._filter_hit(s, stop.frames[-1], stop)
            if hit is not None:
                self._stop_on_exception(*hit)
                if stop.ended:
                    self._output(views.summary(stop))
                return
        if stop.ended:
            self._output(views.summary(stop))
            description = description or f"The end of the predicted execution: {stop.end.message or stop.end.reason}"
        self._stopped(reason, description, hits)

    def _backward(self, action: Callable) -> None:
        reason, description, hits = action(self.session)
        self.stop = self.session.view()
        self._stopped(reason, description, hits)

    def _filter_hit(self, s, frame, stop: SessionView | None = None) -> tuple[str, str, str] | None:
        """(exception id, description, text) when an exception filter stops on ``frame``."""
        below = self.unsure_below if self.unsure_below is not None else s.options.unsure_below
        if UNSURE in self.filters and frame is not None and unsure(frame.confidence, below):
            return "Unsure", f"The model gave this step {sure_text(frame.confidence)}, under {below:g}.", \
                "The model is unsure here"
        if EXCEPTION in self.filters and frame is not None and frame.event == "exception":
            name, sentence = views.exception_of(frame)
            return name, sentence, frame.arg or name
        if DIVERGENCE in self.filters and s.real is not None and self._divergence_before is None:
            d = stop.divergence if stop is not None else s.comparison().first_divergence
            if d is not None:
                return "Divergence", d.message, "The model and the real run part"
        return None

    @contextmanager
    def _progress(self, request, title: str, cancellable: bool):
        """progressStart and progressEnd around long work, when the client shows progress (a
        ``cancel`` of a cancellable one pauses); yields a function that sends a progressUpdate."""
        if not self.client.supportsProgressReporting:
            yield lambda message: None
            return
        progress_id = f"neurodebug-{request.seq}"
        if cancellable:
            self._cancellable[progress_id] = request.seq
        self.out.event("progressStart", dap.ProgressStartEventBody(
            progressId=progress_id, title=title, requestId=request.seq, cancellable=cancellable))
        try:
            yield lambda message: self.out.event("progressUpdate", dap.ProgressUpdateEventBody(
                progressId=progress_id, message=message))
        finally:
            self._cancellable.pop(progress_id, None)
            self.out.event("progressEnd", dap.ProgressEndEventBody(progressId=progress_id))

    def _stop_on_exception(self, exception_id: str, description: str, text: str) -> None:
        if self.over:
            return
        self.exception = dap.ExceptionInfoResponseBody(
            exceptionId=exception_id, description=description, breakMode="always",
            details=dap.ExceptionDetails(message=description, typeName=exception_id))
        self.out.event("stopped", dap.StoppedEventBody(reason="exception", description=description, text=text,
                                                       threadId=THREAD_ID, allThreadsStopped=True))

    def _stopped(self, reason: str, description: str | None = None, hits: list[int] | None = None) -> None:
        self.exception = None
        if self.over:  # the client terminated the session while this move ran
            return
        self.out.event("stopped", dap.StoppedEventBody(reason=reason, description=description, threadId=THREAD_ID,
                                                       allThreadsStopped=True, hitBreakpointIds=hits))

    def _terminate(self) -> None:
        self.over = True
        self.out.event("exited", dap.ExitedEventBody(exitCode=0))
        self.out.event("terminated")

    def _output(self, text: str, category: str = "console") -> None:
        self.out.event("output", dap.OutputEventBody(category=category, output=text))

    # -- interrupting ---------------------------------------------------------------------------------

    def pause(self, request):
        self._interrupt()

    def cancel(self, request: dap.CancelRequest):
        args = request.arguments
        if args is not None and (args.requestId in self._pending or args.progressId in self._cancellable):
            self._interrupt()

    def _interrupt(self) -> None:
        """Stop the work under way or queued (a running prediction at its next token)."""
        if self._pending:
            self._halt.set()
            if self.session is not None:
                self.session.cancel()

    # -- changing the prediction -------------------------------------------------------------------

    def set_variable(self, request: dap.SetVariableRequest):
        args = request.arguments
        self.panes.settable(self._stopped_state(), args.variablesReference)

        def work():
            self.session.set_local(args.name, args.value)
            self.stop = self.session.view()
            self.out.respond(request.seq, request.command, self.panes.local(self.stop, args.name))
            if self.client.supportsInvalidatedEvent:  # the real run and the frames after it changed
                self.out.event("invalidated", dap.InvalidatedEventBody(areas=["variables"], threadId=THREAD_ID))

        self._submit(request, work, answers=True)
        return LATER

    def restart(self, request: dap.RestartRequest):
        """A new sample (a new seed); with a changed launch configuration, a new session on it."""
        if self.session is None:
            raise UserError("There is no prediction to restart: launch one first.")
        given = request.arguments.arguments if request.arguments is not None else None
        config = self.config
        if given is not None:
            config = LaunchConfig.parse(given.model_dump(by_alias=True))
            config = config.model_copy(update={"program": os.path.abspath(config.program)})
        self._interrupt()

        def work():
            if config != self.config:
                from neurodebug.trace.source import read_source

                session = self._load(request, config)
                if session is None:
                    return
                self.session = session
                self.config, self.source = config, read_source(config.program)
                self.runnable = views.runnable_lines(self.source)
            else:
                self.session.reset()
            self.over = False
            self.out.respond(request.seq, request.command)
            with self._failures(request, answered=True):
                self._announce()
                self._begin(request)

        if config != self.config:
            self._expect_load(request)
        self._submit(request, work, answers=True)
        return LATER

    def terminate(self, request):
        self._interrupt()
        self._cancel_load()
        self.out.respond(request.seq, request.command)
        self.over = True
        self.out.event("terminated")
        return LATER

    def disconnect(self, request):
        self._interrupt()
        self._cancel_load()
        self.done = True

    # -- lines ----------------------------------------------------------------------------------------

    def _line_in(self, line: int) -> int:
        return line if self.client.linesStartAt1 is not False else line + 1

    def _line_out(self, line: int) -> int:
        return line if self.client.linesStartAt1 is not False else line - 1


#: A handler's return value meaning "answered later, from the worker".
LATER = object()

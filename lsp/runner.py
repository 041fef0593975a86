"""Session work for the language server: off the message loop, with progress and cancellation.

Every command runs its session work in a worker thread while the loop keeps answering
requests; the loop reports progress (frames predicted so far) and turns a cancellation
(the client's $/cancelRequest, the progress bar's cancel button, a newer prediction, an
edit) into ``Session.cancel()``. When the work ends, a :class:`Snapshot` of the session is
taken in the worker thread, so that hints, hovers and diagnostics read a consistent state.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from lsprotocol import types
from neurodebug.lsp import views
from neurodebug.lsp.documents import Cancelled, Job, Result, Store
from neurodebug.lsp.protocol import Action, RequestFailed
from neurodebug.lsp.settings import Settings
from pygls.exceptions import JsonRpcContentModified, JsonRpcRequestCancelled
from pygls.uris import to_fs_path

from neurodebug.errors import UserError
from neurodebug.trace.format import source_lines
from neurodebug.trace.frames import Frame
from neurodebug.trace.source import call_for, expression_call, functions
from neurodebug.view import SessionView

#: How often the loop reports progress while a worker thread predicts.
PROGRESS_EVERY_S = 0.2

#: The custom notification carrying the current session of a document.
TRACE_NOTIFICATION = "neurodebug/trace"


@dataclass(frozen=True)
class Snapshot:
    """What the editor shows of a session, copied out of it when a job ends."""

    view: SessionView
    real: list[Frame | None]  # the real frame aligned with each predicted frame
    diagnostics: list[views.Diagnostic]
    trace: dict  # the neurodebug/trace notification's session
    summary: dict = field(default_factory=dict)  # the command's result


def snapshot(session, function: str, compared: bool) -> Snapshot:
    """Copy what the views need out of ``session`` (called in the worker thread)."""
    view = session.view()
    diagnostics: list[views.Diagnostic] = []
    if compared and view.comparison is not None:
        first = views.divergence_diagnostic(view.divergence, [row.real for row in view.comparison.rows], view.home)
        diagnostics = ([first] if first else []) + views.exception_diagnostics(view.frames, view.real_frames, view.home)
    current = view.current
    summary = {
        "function": function,
        "call": view.call,
        "frames": len(view.frames),
        "index": view.index,
        "line": current.line if current is not None else None,
        "ended": bool(view.ended),
        "end": view.end.reason,
        "real": view.real_note,
        "divergence": view.divergence.message if view.divergence else None,
    }
    return Snapshot(view, view.aligned_real(), diagnostics, session.to_json(view), summary)


def default_predictor(settings: Settings):
    """The predictor the settings name (loading a model imports torch: call it off the message loop)."""
    return settings.options.make_predictor()


def check_isolation(options) -> None:
    """One sentence when Compare's isolation asks for bwrap where it cannot start."""
    try:
        options.check_isolation()
    except UserError as e:
        raise RequestFailed(str(e)) from None


class Progress:
    """Work-done progress for one job, when the client supports it; its cancel cancels the job."""

    def __init__(self, ls, title: str, job: Job):
        self.ls, self.title, self.job = ls, title, job
        self.token: str | None = None

    async def __aenter__(self) -> "Progress":
        caps = self.ls.client_capabilities
        if caps.window is None or not caps.window.work_done_progress:
            return self
        self.token = f"neurodebug-{uuid.uuid4()}"
        await self.ls.work_done_progress.create_async(self.token)
        self.ls.work_done_progress.begin(self.token, types.WorkDoneProgressBegin(title=self.title, cancellable=True))
        future = self.ls.work_done_progress.tokens.get(self.token)
        if future is not None:
            future.add_done_callback(lambda f: self.job.cancel("user") if f.cancelled() else None)
        return self

    def report(self, message: str) -> None:
        if self.token is not None:
            self.ls.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=message))

    async def __aexit__(self, *exc) -> None:
        if self.token is not None:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message="cancelled" if self.job.cancelled else "done"))
            self.ls.work_done_progress.tokens.pop(self.token, None)


class Runner:
    """Starts sessions for documents, steps them, and publishes what they show."""

    def __init__(self, ls, predictor_factory: Callable[[Settings], Any] | None = None):
        self.ls = ls
        self.settings = Settings.from_env()
        self.store = Store()
        self.predictor_factory = predictor_factory or default_predictor
        self._predictor: Any = None
        self._predictor_key: tuple | None = None
        self._predictor_lock = threading.Lock()
        self._requests: dict[Any, Job] = {}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="neurodebug-session")

    # -- settings and model ------------------------------------------------------------------

    def configure(self, options: dict | None) -> None:
        self.settings = self.settings.updated(options)

    def predictor(self):
        """The predictor for the current settings, loaded once (called in a worker thread)."""
        with self._predictor_lock:
            key = self.settings.predictor_key()
            if self._predictor is None or key != self._predictor_key:
                self._predictor = self.predictor_factory(self.settings)
                self._predictor_key = key
            return self._predictor

    # -- commands ------------------------------------------------------------------------------

    async def start(self, uri: str, function: str, call: str | None, compare: bool) -> dict:
        """Predict (and, with ``compare``, run for real and compare) ``function`` of ``uri``."""
        version, source = self._document(uri)
        if function not in {f.name for f in functions(source)}:
            raise RequestFailed(f"There is no module-level function or method {function!r} in this document.")
        call = call_for(source, function, call)
        settings = self.settings
        try:
            settings.check()
        except UserError as e:
            raise RequestFailed(str(e)) from None
        if compare and not settings.real_runs:
            raise RequestFailed("Compare runs the function for real, and real runs are off (the setting "
                                "neurodebug.realRuns); Predict shows the prediction without running it.")
        options = settings.options.model_copy(update={"run_real": compare})
        check_isolation(options)
        # A real path lets the traced module import its neighbours; an unsaved buffer has none.
        path = to_fs_path(uri) if uri.startswith("file:") else None
        path = path if path and os.path.isfile(path) else None
        shown = call if call and (call.startswith(f"{function}(") or expression_call(source, call)) \
            else f"{function}({call or '…'})"
        title = ("Comparing " if compare else "Predicting ") + shown

        async def work(job: Job) -> dict:
            async with Progress(self.ls, title, job) as progress:
                def build():
                    from neurodebug.session import Cancelled, Session

                    predictor = self.predictor()
                    job.check()
                    session = Session(source, function, call, options, predictor=predictor, path=path)
                    job.attach(session)
                    try:
                        return session.start()
                    except Cancelled:
                        job.check()  # says why it was cancelled
                        raise

                progress.report("loading the model" + (" and running the real code" if compare else ""))
                session = await self._in_thread(job, build, progress, lambda: None)

                def predict():
                    job.check()
                    session.cont()
                    return snapshot(session, function, compare)

                snap = await self._in_thread(job, predict, progress, lambda: f"{len(session.frames)} frames predicted")
            return self._finish(uri, version, job, Result(version, session, function, compare), snap)

        return await self._run(uri, work, replace=True)

    def _document(self, uri: str) -> tuple[int | None, str]:
        """(version, text) of an open document, or of the file when it is not open."""
        try:
            doc = self.ls.workspace.get_text_document(uri)
            return doc.version, doc.source
        except (OSError, ValueError):
            raise RequestFailed(f"{uri} is neither open in the editor nor a readable file.") from None

    async def act(self, uri: str, action: Action) -> dict:
        """One debugger action (step, next, out, back, continue, reset, run_to:LINE) on ``uri``'s session."""
        return await self._on_session(uri, action.name, lambda s: getattr(s, action.method)(*action.args))

    async def set_local(self, uri: str, name: str, value_repr: str) -> dict:
        return await self._on_session(uri, f"set {name}", lambda s: s.set_local(name, value_repr))

    async def _on_session(self, uri: str, title: str, change: Callable[[Any], Any]) -> dict:
        async def work(job: Job) -> dict:
            doc = self.ls.workspace.get_text_document(uri)
            result = self.store.result(uri, doc.version)
            if result is None:
                raise RequestFailed("There is no prediction for this version of the document; run Predict or Compare first.")
            session = result.session
            job.attach(session)
            async with Progress(self.ls, f"neurodebug: {title}", job) as progress:
                def run():
                    job.check()
                    change(session)
                    return snapshot(session, result.function, result.compared)

                snap = await self._in_thread(job, run, progress, lambda: f"{len(session.frames)} frames predicted")
            return self._finish(uri, doc.version, job, result, snap)

        return await self._run(uri, work, replace=False)

    async def _run(self, uri: str, work, replace: bool) -> dict:
        job = Job()
        request = self.ls.protocol.msg_id  # the executeCommand request, for $/cancelRequest
        if request is not None:
            self._requests[request] = job
        try:
            return await self.store.run(uri, work, replace=replace, job=job)
        except Cancelled as e:
            raise JsonRpcRequestCancelled(str(e) or "Cancelled by a newer request.") from None
        except UserError as e:
            raise RequestFailed(str(e)) from None
        finally:
            self._requests.pop(request, None)

    def cancel_request(self, request) -> None:
        """The client cancelled an executeCommand request: cancel the job it started."""
        job = self._requests.get(request)
        if job is not None:
            job.cancel("user")

    async def _in_thread(self, job: Job, fn, progress: Progress, describe: Callable[[], str | None]):
        """Run ``fn`` in a worker thread; report progress; cancellation reaches the session."""
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn)
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=PROGRESS_EVERY_S)
                if done:
                    return future.result()
                message = describe()
                if message:
                    progress.report(message)
        except asyncio.CancelledError:
            # $/cancelRequest: stop the session, let the thread finish cleanly, then give up.
            job.cancel("user")
            await asyncio.wait({future})
            raise

    def _finish(self, uri: str, version, job: Job, result: Result, snap: Snapshot) -> dict:
        """Keep the result if it still belongs to the document's text; publish it."""
        doc = self.ls.workspace.get_text_document(uri)
        if doc.version != version or job.reason == "edited":
            raise JsonRpcContentModified("The document changed while neurodebug worked on it; the result was dropped.")
        if job.reason == "superseded":
            raise JsonRpcRequestCancelled("A newer neurodebug request replaced this one.")
        result.snapshot = snap
        self.store.store(uri, result)
        self.publish(uri, result)
        return {**snap.summary, "cancelled": job.cancelled}

    # -- what the editor shows -----------------------------------------------------------------

    def view(self, uri: str) -> Result | None:
        """The document's result when it belongs to its current text, else None."""
        doc = self.ls.workspace.get_text_document(uri)
        result = self.store.result(uri, doc.version)
        return result if result is not None and getattr(result, "snapshot", None) is not None else None

    def invalidate(self, uri: str, reason: str = "edited") -> None:
        """The document changed or closed: cancel its work and take down what it showed."""
        if self.store.invalidate(uri, reason):
            self.ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
            self.ls.protocol.notify(TRACE_NOTIFICATION, {"uri": uri, "version": None, "session": None})
            self._refresh_hints()

    def publish(self, uri: str, result: Result) -> None:
        from neurodebug.lsp import convert

        snap = result.snapshot
        doc = self.ls.workspace.get_text_document(uri)
        lines = source_lines(doc.source)
        self.ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, version=result.version, diagnostics=[convert.diagnostic(d, lines) for d in snap.diagnostics]
            )
        )
        self.ls.protocol.notify(TRACE_NOTIFICATION, {"uri": uri, "version": result.version, "session": snap.trace})
        self._refresh_hints()

    def _refresh_hints(self) -> None:
        caps = self.ls.client_capabilities.workspace
        if caps is not None and caps.inlay_hint is not None and caps.inlay_hint.refresh_support:
            self.ls.workspace_inlay_hint_refresh(None)

    def shutdown(self) -> None:
        for job in list(self._requests.values()):
            job.cancel("user")
        self._pool.shutdown(wait=False, cancel_futures=True)

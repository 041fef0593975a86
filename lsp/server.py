"""The neurodebug language server: one small handler per LSP feature.

Handlers turn requests into calls on :class:`lsp.runner.Runner` (sessions, progress,
cancellation) and :mod:`lsp.views` (hints, hovers, diagnostics from frames). Opening,
changing or saving a document never runs its code: only the explicit commands do, and
real code runs only in the tracer's child process.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from lsprotocol import types
from neurodebug.lsp import convert, views
from neurodebug.lsp.runner import RequestFailed, Runner
from pygls.exceptions import JsonRpcContentModified, JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from neurodebug import __version__
from neurodebug.trace.format import source_lines
from neurodebug.trace.source import function_at, functions


class _Answered:
    """A request that was answered with an error while it was being parsed."""


class Protocol(LanguageServerProtocol):
    """pygls' protocol, plus: a request with malformed params gets an error response
    (pygls would only log it and leave the client waiting), and $/cancelRequest also
    stops the session work the request started."""

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if not ("jsonrpc" in data and "id" in data and "method" in data):
                raise
            cause = str(exc.__cause__ or exc).strip().splitlines()[0]
            error = JsonRpcInvalidParams(f"Invalid params for {data['method']}: {cause}")
            self._send_response(data["id"], error=error.to_response_error())
            return _Answered()

    def handle_message(self, message):
        if not isinstance(message, _Answered):
            super().handle_message(message)

    def _handle_cancel_notification(self, msg_id):
        self._server.runner.cancel_request(msg_id)
        super()._handle_cancel_notification(msg_id)


class NeuroServer(LanguageServer):
    def __init__(self, predictor_factory: Callable | None = None):
        super().__init__("neurodebug", __version__, protocol_cls=Protocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.runner = Runner(self, predictor_factory)


def _args(args: tuple, *kinds: tuple) -> list:
    """Check a command's positional arguments against (name, types) pairs."""
    if len(args) != len(kinds):
        names = ", ".join(name for name, _ in kinds)
        raise JsonRpcInvalidParams(f"Expected {len(kinds)} arguments ({names}), got {len(args)}.")
    for value, (name, allowed) in zip(args, kinds):
        if not isinstance(value, allowed):
            raise JsonRpcInvalidParams(f"Argument {name} has the wrong type ({type(value).__name__}).")
    return list(args)


def build(predictor_factory: Callable | None = None) -> NeuroServer:
    """A server whose sessions get their predictor from ``predictor_factory(settings)``
    (default: the model the settings name, see lsp.settings)."""
    server = NeuroServer(predictor_factory)

    # -- lifecycle and documents -----------------------------------------------------------

    @server.feature(types.INITIALIZE)
    def initialize(ls: NeuroServer, params: types.InitializeParams):
        ls.runner.configure(params.initialization_options)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: NeuroServer, params: types.DidChangeConfigurationParams):
        ls.runner.configure(params.settings)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NeuroServer, params: types.DidChangeTextDocumentParams):
        ls.runner.invalidate(params.text_document.uri, "edited")

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NeuroServer, params: types.DidCloseTextDocumentParams):
        ls.runner.invalidate(params.text_document.uri, "edited")

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: NeuroServer, params: None):
        ls.runner.shutdown()

    # -- what the editor shows -------------------------------------------------------------

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    def code_lens(ls: NeuroServer, params: types.CodeLensParams):
        uri = params.text_document.uri
        source = ls.workspace.get_text_document(uri).source
        debug = ls.runner.settings.debug_lens
        return [lens for f in functions(source) for lens in convert.code_lenses(uri, f, debug)]

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
    def inlay_hint(ls: NeuroServer, params: types.InlayHintParams):
        result = ls.runner.view(params.text_document.uri)
        if result is None:
            return []
        snap = result.snapshot
        lines = source_lines(ls.workspace.get_text_document(params.text_document.uri).source)
        first, last = params.range.start.line + 1, params.range.end.line + 1
        return [convert.inlay_hint(h, lines) for h in views.inlay_hints(snap.frames, snap.index, snap.real)
                if first <= h.line <= last]

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: NeuroServer, params: types.HoverParams):
        result = ls.runner.view(params.text_document.uri)
        if result is None:
            return None
        doc = ls.workspace.get_text_document(params.text_document.uri)
        lines = source_lines(doc.source)
        pos = params.position
        name = views.word_at(lines[pos.line], pos.character) if pos.line < len(lines) else None
        if name is None:
            return None
        snap = result.snapshot
        where = function_at(doc.source, pos.line + 1)
        rows = views.history(snap.frames[: snap.index + 1], name, snap.real, where.name if where else None)
        text = views.hover_markdown(name, rows, snap.has_real, snap.index)
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    # -- commands: the only way workspace code is ever run ------------------------------------

    @server.command("neurodebug.predict")
    async def predict(ls: NeuroServer, *args):
        uri, function, call = _args(args, ("uri", str), ("function_name", str), ("call", (str, type(None))))
        return await ls.runner.start(uri, function, call, compare=False)

    @server.command("neurodebug.compare")
    async def compare(ls: NeuroServer, *args):
        uri, function, call = _args(args, ("uri", str), ("function_name", str), ("call", (str, type(None))))
        return await ls.runner.start(uri, function, call, compare=True)

    @server.command("neurodebug.step")
    async def step(ls: NeuroServer, *args):
        uri, action = _args(args, ("uri", str), ("action", str))
        return await ls.runner.act(uri, action)

    @server.command("neurodebug.setLocal")
    async def set_local(ls: NeuroServer, *args):
        uri, name, value = _args(args, ("uri", str), ("name", str), ("value_repr", str))
        return await ls.runner.set_local(uri, name, value)

    return server


class _QuietExpectedErrors(logging.Filter):
    """pygls logs every error response with a traceback. Errors the user caused or chose (a bad
    request, a cancel, an edit, a UserError) already reach the editor as the response: they are
    not logged again; tracebacks stay for bugs. Over TCP, pygls ends the process on `exit` by
    raising SystemExit in asyncio's connection callback, which asyncio logs: the normal way out."""

    EXPECTED = (RequestFailed, JsonRpcInvalidParams, JsonRpcRequestCancelled, JsonRpcContentModified)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.exc_info[0] if record.exc_info else None
        if kind is SystemExit or (kind is not None and issubclass(kind, self.EXPECTED)):
            return False
        if str(record.msg).startswith("Unable to deserialize message"):  # answered by Protocol
            record.msg, record.args = "A message's params do not fit its method; it was answered with an error.", ()
        return True


def main(tcp_port: int | None = None, predictor_factory: Callable | None = None) -> None:
    handler = logging.StreamHandler()  # stderr: the editor's output channel for this server
    handler.setFormatter(logging.Formatter("neurodebug lsp: %(levelname)s %(message)s"))
    handler.addFilter(_QuietExpectedErrors())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    server = build(predictor_factory)
    if tcp_port is None:
        server.start_io()
    else:
        server.start_tcp("127.0.0.1", tcp_port)

"""The neurodebug language server: one small handler per LSP feature.

Handlers turn requests into calls on :class:`lsp.runner.Runner` (sessions, progress,
cancellation) and :mod:`lsp.views` (hints, hovers, diagnostics from a session's view).
Opening, changing or saving a document never runs its code: only the explicit commands do,
and real code runs only in the tracer's child process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from lsprotocol import types
from neurodebug.lsp import convert, views
from neurodebug.lsp.protocol import Action, QuietExpectedErrors, Text, converter
from neurodebug.lsp.pygls_overrides import Protocol
from neurodebug.lsp.runner import Runner, default_predictor
from pygls.lsp.server import LanguageServer

from neurodebug import __version__
from neurodebug.trace.format import source_lines
from neurodebug.trace.source import function_at, functions


class NeuroServer(LanguageServer):
    """pygls's server with a :class:`Runner` for the sessions of the open documents."""

    def __init__(self) -> None:
        super().__init__("neurodebug", __version__, protocol_cls=Protocol, converter_factory=converter,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.runner = Runner(self)


server = NeuroServer()


# -- lifecycle and documents ---------------------------------------------------------------


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


# -- what the editor shows -----------------------------------------------------------------


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
    return [convert.inlay_hint(h, lines) for h in views.inlay_hints(snap.view.frames, snap.view.index, snap.real,
                                                                      snap.view.home, snap.view.unsure_below)
            if first <= h.line <= last]


@server.feature(types.TEXT_DOCUMENT_HOVER)
async def hover(ls: NeuroServer, params: types.HoverParams):
    result = ls.runner.view(params.text_document.uri)
    if result is None:
        return None
    doc = ls.workspace.get_text_document(params.text_document.uri)
    lines = source_lines(doc.source)
    pos = params.position
    name = views.word_at(lines[pos.line], pos.character) if pos.line < len(lines) else None
    if name is None:
        return None
    view = result.snapshot.view
    where = function_at(doc.source, pos.line + 1)
    func = where.name.rsplit(".", 1)[-1] if where else None  # a frame names a method without its class
    rows = views.history(view.frames, name, result.snapshot.real, func)
    text = views.hover_markdown(name, rows, view.real is not None, view.index)
    if text is None:
        return None
    # the alternatives take the model a forward pass or two: off the server's loop
    text += await asyncio.to_thread(views.sureness_markdown, result.session, view, name, rows)
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))


# -- commands: the only way workspace code is ever run -------------------------------------


@server.command("neurodebug.predict")
async def predict(ls: NeuroServer, uri: Text, function_name: Text, call: Text | None):
    return await ls.runner.start(uri, function_name, call, compare=False)


@server.command("neurodebug.compare")
async def compare(ls: NeuroServer, uri: Text, function_name: Text, call: Text | None):
    return await ls.runner.start(uri, function_name, call, compare=True)


@server.command("neurodebug.step")
async def step(ls: NeuroServer, uri: Text, action: Action):
    return await ls.runner.act(uri, action)


@server.command("neurodebug.setLocal")
async def set_local(ls: NeuroServer, uri: Text, name: Text, value_repr: Text):
    return await ls.runner.set_local(uri, name, value_repr)


def main(tcp_port: int | None = None, predictor_factory: Callable | None = None) -> None:
    """Serve over stdio (or TCP on 127.0.0.1); sessions get their predictor from
    ``predictor_factory(settings)`` (default: the model the settings name, see lsp.settings)."""
    handler = logging.StreamHandler()  # stderr: the editor's output channel for this server
    handler.setFormatter(logging.Formatter("neurodebug lsp: %(levelname)s %(message)s"))
    handler.addFilter(QuietExpectedErrors())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    server.runner.predictor_factory = predictor_factory or default_predictor
    if tcp_port is None:
        server.start_io()
    else:
        server.start_tcp("127.0.0.1", tcp_port)

"""The language server end to end: pytest-lsp's client speaks LSP to it over stdio."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import Future

import pytest
from lsprotocol import types

from neurodebug.real.isolation import bwrap_problem
from tests.lsp.conftest import EXAMPLE, FORM_FEED

pytestmark = pytest.mark.asyncio(loop_scope="module")

WHOLE = types.Range(types.Position(0, 0), types.Position(100, 0))


def open_doc(client, name: str, text: str = EXAMPLE, version: int = 1) -> str:
    uri = f"file:///neurodebug-test/{name}.py"
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))
    return uri


async def hints(client, uri) -> dict[int, str]:
    got = await client.text_document_inlay_hint_async(types.InlayHintParams(types.TextDocumentIdentifier(uri), WHOLE))
    return {h.position.line + 1: h.label for h in got or []}


async def execute(client, command: str, *args):
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command, list(args)))


async def send_raw(client, method: str, params):
    """A request written as raw JSON, so that it can be malformed (the client's typed API would refuse)."""
    msg_id = f"raw-{uuid.uuid4()}"
    future = Future()
    client.protocol._request_futures[msg_id] = future
    client.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await asyncio.wait_for(asyncio.wrap_future(future), 10)


def trace_for(client, uri):
    """The latest neurodebug/trace notification for ``uri``."""
    for params in reversed(client.traces):
        if params.uri == uri:
            return params
    return None


async def test_code_lenses_over_every_function(lsp):
    uri = open_doc(lsp, "lenses")
    lenses = await lsp.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
    got = [(lens.range.start.line + 1, lens.command.command, list(lens.command.arguments)) for lens in lenses]
    assert got == [
        (2, "neurodebug.predict", [uri, "count", "count('berry', 'r')"]),
        (2, "neurodebug.compare", [uri, "count", "count('berry', 'r')"]),
        (11, "neurodebug.predict", [uri, "ratio", "ratio(4, 0)"]),
        (11, "neurodebug.compare", [uri, "ratio", "ratio(4, 0)"]),
        (16, "neurodebug.predict", [uri, "square", None]),
        (16, "neurodebug.compare", [uri, "square", None]),
    ]
    assert "Predict count('berry', 'r')" in lenses[0].command.title
    assert lenses[4].command.title == "▶ Predict square(…)"


async def test_a_client_that_starts_debug_sessions_gets_a_debug_lens(lsp):
    """VS Code's extension says `debugLens`; other clients (Neovim) keep the two lenses they can run."""
    uri = open_doc(lsp, "debug-lens")

    def configure(value: bool) -> None:
        lsp.workspace_did_change_configuration(types.DidChangeConfigurationParams({"neurodebug": {"debugLens": value}}))

    configure(True)
    try:
        lenses = await lsp.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
    finally:
        configure(False)
    got = [(lens.range.start.line + 1, lens.command.title, lens.command.command, list(lens.command.arguments))
           for lens in lenses if lens.command.command == "neurodebug.debug"]
    assert got == [(2, "$(debug-alt) Debug predicted execution", "neurodebug.debug", [uri, "count", "count('berry', 'r')"]),
                   (11, "$(debug-alt) Debug predicted execution", "neurodebug.debug", [uri, "ratio", "ratio(4, 0)"]),
                   (16, "$(debug-alt) Debug predicted execution", "neurodebug.debug", [uri, "square", None])]
    assert len(lenses) == 9
    after = await lsp.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
    assert len(after) == 6


async def test_without_a_call_the_model_proposes_one(lsp):
    uri = open_doc(lsp, "propose")
    result = await execute(lsp, "neurodebug.compare", uri, "square", None)
    assert result["call"] == "3" and result["divergence"] is None and result["real"] is None
    assert await hints(lsp, uri) == {17: "return 9"}
    await asyncio.sleep(0.1)
    assert list(lsp.diagnostics[uri]) == []


async def test_compare_shows_hints_hover_diagnostics_and_progress(lsp):
    uri = open_doc(lsp, "compare")
    assert await hints(lsp, uri) == {}  # nothing runs before a command
    before = set(lsp.progress_reports)
    result = await execute(lsp, "neurodebug.compare", uri, "count", None)
    assert result["frames"] == 17 and result["ended"] and result["end"] == "end_of_text"
    assert "n is 1 in the real run; the model predicted 2" in result["divergence"]

    # work-done progress: begin ... end, with the title naming the call
    tokens = set(lsp.progress_reports) - before
    assert len(tokens) == 1
    reports = lsp.progress_reports[tokens.pop()]
    assert reports[0].kind == "begin" and "count('berry', 'r')" in reports[0].title
    assert reports[-1].kind == "end"

    # inlay hints: what each line changed; both values where the real run differs
    assert await hints(lsp, uri) == {3: "n = 0", 4: "c = 'y'", 6: "n = 4  real 2", 7: "return 4  real 2"}

    # hover: n's predicted and real history
    hover = await lsp.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(5, 13)))
    text = hover.contents.value
    assert "**n**" in text and "predicted vs real" in text
    assert "| `2` | `1` ✗ |" in text and "| `4` | `2` ✗ |" in text

    # diagnostics: Information on the line that went wrong (n += 1 produced the wrong n)
    await asyncio.sleep(0.1)
    diags = lsp.diagnostics[uri]
    assert [(d.range.start.line + 1, d.severity) for d in diags] == [(6, types.DiagnosticSeverity.Information)]
    assert "n is 1 in the real run; the model predicted 2" in diags[0].message

    # the custom notification carries the session
    note = trace_for(lsp, uri)
    assert note.version == 1 and note.session.index == 16 and note.session.divergence.step == 9


async def test_exception_only_the_real_run_raises_is_a_warning(lsp):
    uri = open_doc(lsp, "raises")
    result = await execute(lsp, "neurodebug.compare", uri, "ratio", None)
    assert result["call"] == "4, 0"
    await asyncio.sleep(0.1)
    by_line = {(d.range.start.line + 1, d.severity): d.message for d in lsp.diagnostics[uri]}
    warning = by_line[(12, types.DiagnosticSeverity.Warning)]
    assert "real run raises ZeroDivisionError('division by zero')" in warning
    assert (await hints(lsp, uri))[12] == "q = inf  real raises ZeroDivisionError('division by zero')"


async def test_predict_then_step_commands_move_the_hints(lsp):
    uri = open_doc(lsp, "steps")
    result = await execute(lsp, "neurodebug.predict", uri, "count", "count('berry', 'r')")
    assert result["frames"] == 17 and result["real"] == "The real run is off for this session."
    assert (await hints(lsp, uri))[7] == "return 4"  # no real run: one value
    await asyncio.sleep(0.1)
    assert list(lsp.diagnostics.get(uri, [])) == []

    result = await execute(lsp, "neurodebug.step", uri, "reset")
    assert result["index"] == 0 and result["line"] == 2
    assert await hints(lsp, uri) == {}
    for _ in range(3):
        result = await execute(lsp, "neurodebug.step", uri, "step")
    assert (result["index"], result["line"]) == (3, 5)
    assert await hints(lsp, uri) == {3: "n = 0", 4: "c = 'b'"}
    result = await execute(lsp, "neurodebug.step", uri, "back")
    assert await hints(lsp, uri) == {3: "n = 0"}
    result = await execute(lsp, "neurodebug.step", uri, "run_to:7")
    assert result["line"] == 7
    assert (await hints(lsp, uri))[6] == "n = 4"
    result = await execute(lsp, "neurodebug.step", uri, "continue")
    assert result["ended"] and (await hints(lsp, uri))[7] == "return 4"


async def test_an_edit_clears_stale_results(lsp):
    uri = open_doc(lsp, "edit")
    await execute(lsp, "neurodebug.compare", uri, "count", None)
    assert await hints(lsp, uri)
    lsp.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [types.TextDocumentContentChangeWholeDocument(text=EXAMPLE.replace("n = 0", "n = 0  # start"))]))
    assert await hints(lsp, uri) == {}
    await asyncio.sleep(0.1)
    assert list(lsp.diagnostics[uri]) == []
    assert trace_for(lsp, uri).session is None
    hover = await lsp.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(5, 13)))
    assert hover is None
    with pytest.raises(Exception, match="no prediction for this version"):
        await execute(lsp, "neurodebug.step", uri, "step")


async def test_malformed_requests_get_errors_and_the_server_lives_on(lsp):
    uri = open_doc(lsp, "malformed")
    # params that do not fit the method's type: an InvalidParams error response
    with pytest.raises(Exception, match="Invalid params for textDocument/hover"):
        await send_raw(lsp, "textDocument/hover", {"textDocument": 42})
    with pytest.raises(Exception, match="Invalid params for textDocument/inlayHint"):
        await send_raw(lsp, "textDocument/inlayHint", {"textDocument": {"uri": uri}, "range": "all"})
    with pytest.raises(Exception, match="Unknown action 'sideways'"):
        await execute(lsp, "neurodebug.step", uri, "sideways")
    with pytest.raises(Exception, match="Expected 3 arguments"):
        await execute(lsp, "neurodebug.predict", uri)
    # pygls's converter fills in the typed arguments: a string stays a string, an action is parsed
    with pytest.raises(Exception, match=r"should be a string is int \(42\)"):
        await execute(lsp, "neurodebug.predict", uri, 42, None)
    with pytest.raises(Exception, match="run_to needs a line number"):
        await execute(lsp, "neurodebug.step", uri, "run_to:twelve")
    with pytest.raises(Exception, match="no module-level function or method 'nope'"):
        await execute(lsp, "neurodebug.predict", uri, "nope", None)
    with pytest.raises(Exception, match="neither open in the editor nor a readable file"):
        await execute(lsp, "neurodebug.predict", "file:///no/such/file.py", "f", None)
    with pytest.raises(Exception, match="Method Not Found"):
        await send_raw(lsp, "neurodebug/nothing", {})
    lenses = await lsp.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
    assert len(lenses) == 6


async def test_opening_editing_saving_never_runs_the_code(lsp, tmp_path):
    marker = tmp_path / "ran"
    text = (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('module')\n\n\n"
            "# neurodebug: f(1)\ndef f(x):\n    return x + 1\n")
    path = tmp_path / "danger.py"
    path.write_text(text)
    uri = path.as_uri()
    open_doc_at(lsp, uri, text)
    lsp.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [types.TextDocumentContentChangeWholeDocument(text=text + "\n")]))
    lsp.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri), text=text + "\n"))
    lenses = await lsp.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
    assert [list(lens.command.arguments) for lens in lenses][0] == [uri, "f", "f(1)"]
    await hints(lsp, uri)
    await lsp.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(6, 11)))
    await asyncio.sleep(0.2)
    assert not marker.exists()
    # only the explicit command runs it, in the tracer's child process (isolated where bwrap can start)
    result = await execute(lsp, "neurodebug.compare", uri, "f", None)
    if bwrap_problem() is None:  # isolated: the run reads the user's files but cannot change them
        assert not marker.exists() and "Read-only file system" in result["real"]
    else:
        assert marker.read_text() == "module"
    assert result["call"] == "1"


def open_doc_at(client, uri: str, text: str) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))


async def test_set_local_edits_the_current_frame(lsp):
    uri = open_doc(lsp, "setlocal")
    await execute(lsp, "neurodebug.compare", uri, "count", None)
    await execute(lsp, "neurodebug.step", uri, "reset")
    await execute(lsp, "neurodebug.step", uri, "step")
    result = await execute(lsp, "neurodebug.step", uri, "step")
    assert (result["index"], result["line"]) == (2, 4)
    result = await execute(lsp, "neurodebug.setLocal", uri, "n", "10")
    assert (result["index"], result["line"]) == (2, 4)
    hover = await lsp.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(2, 4)))
    assert "| 2 | 4 | `10` | `0` ✗ |" in hover.contents.value
    with pytest.raises(Exception, match="is not a variable name"):
        await execute(lsp, "neurodebug.setLocal", uri, "not a name", "1")


async def test_a_form_feed_does_not_shift_line_numbers(lsp):
    """Python and LSP end lines only at \\n, \\r\\n and \\r; str.splitlines would also split at the
    form feed between the functions and put every hint and hover below it one line off."""
    uri = open_doc(lsp, "formfeed", FORM_FEED)
    result = await execute(lsp, "neurodebug.predict", uri, "square", "3")
    assert result["ended"] and result["line"] == 17
    got = await lsp.text_document_inlay_hint_async(types.InlayHintParams(types.TextDocumentIdentifier(uri), WHOLE))
    assert [(h.position.line + 1, h.position.character) for h in got] == [(17, len("    return x * x"))]
    hover = await lsp.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(16, 11)))
    assert "**x**" in hover.contents.value


async def test_take_real_puts_the_real_frames_in_place_of_the_prediction(lsp):
    uri = open_doc(lsp, "take_real")
    await execute(lsp, "neurodebug.compare", uri, "count", None)
    assert (await hints(lsp, uri))[7] == "return 4  real 2"
    result = await execute(lsp, "neurodebug.step", uri, "take_real")  # at the last step: the whole real run
    assert result["divergence"] is None, result
    assert await hints(lsp, uri) == {3: "n = 0", 4: "c = 'y'", 6: "n = 2", 7: "return 2"}
    with pytest.raises(Exception, match="Unknown action 'take'"):
        await execute(lsp, "neurodebug.step", uri, "take")

"""The language server on project code: the hints and diagnostics of a document are the frames
of that file only, though the trace goes through another file of the project."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest
import pytest_asyncio

from neurodebug.real.tracer import trace_file
from neurodebug.trace.context import build
from neurodebug.trace.source import read_source, trace_root
from tests.lsp.conftest import start, stop
from tests.lsp.test_server import execute, hints

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAIN = "from helpers import double\n\n\ndef run(n):\n    m = double(n)\n    return m + 1\n"
HELPERS = "def double(v):\n    r = v * 2\n    return r\n"
STACK = ("class Stack:\n    def __init__(self):\n        self.items = []\n\n"
         "    # neurodebug: Stack().push(3)\n    def push(self, x):\n        self.items.append(x)\n        return len(self.items)\n"
         "\n\nclass TestStack:\n    def test_push(self):\n        assert Stack().push(1) == 1\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "pyproject.toml").write_text("")
    (root / "helpers.py").write_text(HELPERS)
    (root / "main.py").write_text(MAIN)
    (root / "stack.py").write_text(STACK)
    return root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lsp(project, tmp_path_factory):
    """A server whose model replays the real run of run(3), on the context the session builds."""
    replayed = []
    for path, entry, call in ((project / "main.py", "run", "3"), (project / "stack.py", None, "Stack().push(3)")):
        real = trace_file(path, entry, call)
        context = build(path, path.read_text(), trace_root(path), real.entry, call if entry is None else None,
                        lambda text: True, read_source)
        replayed.append(replace(real, source=context.text).to_json_dict(wire=False))
    traces = tmp_path_factory.mktemp("replay") / "traces.json"
    traces.write_text(json.dumps(replayed), encoding="utf-8")
    client = await start([sys.executable, "-m", "tests.lsp.replay", str(traces)])
    yield client
    await stop(client)


async def test_a_document_shows_the_hints_of_its_own_file(lsp, project):
    from lsprotocol import types

    uri = (project / "main.py").as_uri()
    lsp.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=MAIN)))
    result = await execute(lsp, "neurodebug.compare", uri, "run", "3")
    assert result["ended"] and result["divergence"] is None, result
    # double's lines 2 and 3 (r = 6, return 6) are of helpers.py: not hints on main.py's lines 2 and 3
    assert await hints(lsp, uri) == {5: "m = 6", 6: "return 7"}


async def test_methods_have_lenses_and_a_method_call_compares(lsp, project):
    from lsprotocol import types

    uri = (project / "stack.py").as_uri()
    lsp.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=STACK)))
    lenses = await lsp.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
    predict = [(lens.range.start.line + 1, list(lens.command.arguments)[1:]) for lens in lenses
               if lens.command.command == "neurodebug.predict"]
    # every method has one; the comment gives push its call, a test method of a Test class calls itself
    assert predict == [(2, ["Stack.__init__", None]), (6, ["Stack.push", "Stack().push(3)"]),
                       (12, ["TestStack.test_push", "TestStack().test_push()"])]
    result = await execute(lsp, "neurodebug.compare", uri, "Stack.push", "Stack().push(3)")
    assert result["ended"] and result["divergence"] is None, result
    # push's hints are on stack.py's lines; the call expression's own function is in no file
    assert await hints(lsp, uri) == {3: "return None", 7: "self = Stack(items=[3])", 8: "return 1"}

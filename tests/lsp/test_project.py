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


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "pyproject.toml").write_text("")
    (root / "helpers.py").write_text(HELPERS)
    (root / "main.py").write_text(MAIN)
    return root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lsp(project, tmp_path_factory):
    """A server whose model replays the real run of run(3), on the context the session builds."""
    path = project / "main.py"
    real = trace_file(path, "run", "3")
    context = build(path, MAIN, trace_root(path), "run", None, lambda text: True, read_source)
    traces = tmp_path_factory.mktemp("replay") / "traces.json"
    traces.write_text(json.dumps([replace(real, source=context.text).to_json_dict(wire=False)]), encoding="utf-8")
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

"""The editor's setting for real runs: with realRuns false, Compare refuses in one sentence and the
code never runs; Predict works as before (it never runs the code)."""

from __future__ import annotations

import sys

import pytest
import pytest_asyncio

from neurodebug.lsp.settings import Settings
from tests.lsp.conftest import start, stop
from tests.lsp.test_server import execute, open_doc_at

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def no_runs(replay_file):
    client = await start([sys.executable, "-m", "tests.lsp.replay", str(replay_file)], {"realRuns": False})
    yield client
    await stop(client)


async def test_real_runs_setting_reads_json_and_env_style_values():
    assert Settings().real_runs is True
    assert Settings().updated({"realRuns": False}).real_runs is False
    assert Settings().updated({"neurodebug": {"realRuns": "off"}}).real_runs is False
    assert Settings().updated({"realRuns": "yes"}).real_runs is True
    assert Settings().updated({"realRuns": "maybe"}).real_runs is True  # not understood: left as it was


async def test_compare_refuses_and_predict_never_runs(no_runs, tmp_path):
    marker = tmp_path / "ran"
    text = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('module')\n\n\ndef square(x):\n    return x * x\n"
    path = tmp_path / "danger.py"
    path.write_text(text)
    open_doc_at(no_runs, path.as_uri(), text)
    with pytest.raises(Exception, match=r"Compare runs the function for real, and real runs are off \(the setting "
                                        r"neurodebug.realRuns\); Predict shows the prediction without running it."):
        await execute(no_runs, "neurodebug.compare", path.as_uri(), "square", "3")
    result = await execute(no_runs, "neurodebug.predict", path.as_uri(), "square", "3")
    assert result["call"] == "3" and not marker.exists()


async def test_the_isolation_setting(no_runs, tmp_path):
    from lsprotocol import types

    from neurodebug.real.isolation import bwrap_problem

    text = "import os\n\n\ndef where(x):\n    return os.getcwd()\n"
    path = tmp_path / "where.py"
    path.write_text(text)
    open_doc_at(no_runs, path.as_uri(), text)

    def configure(**settings):
        no_runs.workspace_did_change_configuration(types.DidChangeConfigurationParams({"neurodebug": settings}))

    configure(realRuns=True, isolation="sandbox")
    with pytest.raises(Exception, match=r"The setting 'isolation' cannot be 'sandbox': input should be 'auto', 'bwrap' or 'none'\."):
        await execute(no_runs, "neurodebug.compare", path.as_uri(), "where", "1")
    configure(isolation="none")
    result = await execute(no_runs, "neurodebug.compare", path.as_uri(), "where", "1")
    assert result["real"] is None and result["call"] == "1"
    if bwrap_problem() is None:
        configure(isolation="bwrap")
        result = await execute(no_runs, "neurodebug.compare", path.as_uri(), "where", "1")
        assert result["real"] is None and result["call"] == "1"

"""Fixtures for the e2e tests: the packaged extension installed in a real code-server, a workspace
with copies of examples/, and one headless Chromium window on it (driven by Playwright).

Missing tools skip the tests with the reason (`.ci/e2e_setup.sh` installs them); a failing UI check
fails. A failing test leaves a screenshot and the extension host's logs in e2e-artifacts/.
"""

from __future__ import annotations

import shutil
import sys
import warnings

import pytest

from tests.e2e import harness


@pytest.fixture(scope="session")
def e2e_tools() -> harness.Tools:
    found = harness.tools()
    if isinstance(found, str):
        warnings.warn(f"e2e tests skipped: {found}")
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def code_server(e2e_tools, tmp_path_factory):
    home = tmp_path_factory.mktemp("code-server")
    workspace = home / "workspace"
    workspace.mkdir()
    for program in (harness.ROOT / "examples").glob("*.py"):
        shutil.copy(program, workspace)
    vsix = harness.package_extension(e2e_tools, home)
    server = harness.CodeServer(e2e_tools, vsix, home, workspace, python=sys.executable)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(e2e_tools):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(harness.CHROMIUM), headless=True,
                                      args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def _window(browser, code_server) -> harness.Workbench:
    """One VS Code window for the whole run: each window starts an extension host (and with it a
    language server) that code-server keeps alive after the page closes."""
    page = browser.new_page(viewport={"width": 1400, "height": 850})
    window = harness.Workbench(page, code_server)
    window.open()
    return window


@pytest.fixture
def workbench(request, _window):
    """The window with no editor open; a failing test leaves its screenshot and logs in e2e-artifacts/."""
    _window.stop_debugging()
    _window.close_editors()
    yield _window
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        _window.keep_evidence(request.node.name)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report

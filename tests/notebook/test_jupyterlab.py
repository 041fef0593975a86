"""The view in a real JupyterLab, in headless Chromium: the magic's cell renders the widget, and a click
on *step* moves the marked line.

JupyterLab runs from its own venv (`.ci/jupyter_setup.sh` makes it, cached under
~/.cache/neurodebug-jupyter) in its own process group; the kernel is this interpreter, given to
JupyterLab as a kernelspec in a temporary JUPYTER_PATH. Playwright drives Debian's /usr/bin/chromium.
The test leaves a screenshot of the notebook in e2e-artifacts/ (or at
$NEURODEBUG_NOTEBOOK_SCREENSHOT: docs/img/notebook.png was made so).

Run: `.ci/jupyter_setup.sh && pytest -m e2e tests/notebook` (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("NEURODEBUG_JUPYTER_CACHE", Path.home() / ".cache" / "neurodebug-jupyter"))
JUPYTER = CACHE / "venv" / "bin" / "jupyter"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("NEURODEBUG_E2E_ARTIFACTS", ROOT / "e2e-artifacts"))
SCREENSHOT = Path(os.environ.get("NEURODEBUG_NOTEBOOK_SCREENSHOT", ARTIFACTS / "jupyterlab-notebook.png"))
KERNEL = "neurodebug-test"

COUNT = """def count(s, c):
    n = 0
    for ch in s:
        if ch == c:
            n += 1
    return n"""
CELLS = ["%load_ext neurodebug.notebook", COUNT, "w = %neurodebug --max-frames 60 --seed 0 count('strawberry', 'r')"]


def _missing() -> str | None:
    missing = [name for name, ok in [("JupyterLab", JUPYTER.exists()), ("/usr/bin/chromium", CHROMIUM.exists())]
               if not ok]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (Python)")
    return f"{', '.join(missing)} not installed; run .ci/jupyter_setup.sh" if missing else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(the URL, the notebook's name) of a JupyterLab serving a notebook of CELLS."""
    missing = _missing()
    if missing:
        pytest.skip(missing)
    home = tmp_path_factory.mktemp("jupyterlab")
    root, data = home / "root", home / "data"
    root.mkdir()
    kernel_dir = data / "kernels" / KERNEL
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "neurodebug (test)", "language": "python"}))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    # a notebook without a kernelspec opens a "Select Kernel" dialog over the page
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "neurodebug (test)", "language": "python"}
    nbformat.write(nb, root / "debug.ipynb")
    port = _free_port()
    env = {**os.environ, "JUPYTER_PATH": str(data), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "user-data"),
           "OMP_NUM_THREADS": "1"}
    log = open(home / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--IdentityProvider.token=",
         "--ServerApp.password=", "--allow-root", f"--ServerApp.root_dir={root}",
         f"--LabApp.workspaces_dir={home / 'workspaces'}", f"--LabApp.user_settings_dir={home / 'settings'}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start: {(home / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, "debug.ipynb"
    finally:
        try:  # JupyterLab and the kernels it started: the whole process group
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


@pytest.fixture(scope="module")
def page(lab):
    from playwright.sync_api import sync_playwright

    url, notebook = lab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            p = browser.new_page(viewport={"width": 1280, "height": 900})
            # a fresh workspace: JupyterLab would restore the last layout (and its dialogs)
            p.goto(f"{url}/lab/workspaces/nd-{os.getpid()}/tree/{notebook}?reset")
            yield p
        finally:
            browser.close()


def _predicted_line(page) -> int:
    return int(page.locator(".neurodebug .nd-line.nd-predicted").first.get_attribute("data-line"))


def _step_number(page) -> int:
    return int(re.search(r"step (\d+) of", page.locator(".neurodebug .nd-header").inner_text()).group(1))


def test_jupyterlab_renders_the_view_and_step_moves_the_marked_line(page):
    try:
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        # cells run before the kernel is connected are not run: wait for the status bar's "| Idle"
        page.wait_for_function("() => /\\| Idle/.test(document.querySelector('.jp-StatusBar-Widget, "
                               "#jp-main-statusbar')?.innerText || '')", timeout=90_000)
        page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first.click()
        for _ in CELLS:
            page.keyboard.press("Shift+Enter")
        page.wait_for_selector(".neurodebug .nd-step:not([disabled])", timeout=120_000)
        page.wait_for_selector(".neurodebug .nd-line.nd-predicted", timeout=30_000)
        assert _step_number(page) == 1
        first = _predicted_line(page)
        assert first == 1  # the call frame: count's def
        # the real run's line is marked too, and the locals show both sides
        assert page.locator(".neurodebug .nd-line.nd-real").count() == 1
        assert page.locator(".neurodebug .nd-locals th").count() == 3

        page.locator(".neurodebug .nd-step").click()
        page.wait_for_function("() => /step 2 of/.test(document.querySelector('.neurodebug .nd-header').innerText)",
                               timeout=60_000)
        assert _predicted_line(page) == 2  # the first line of the body: the file's control flow allows no other
        for n in range(3, 8):  # a few more, for the screenshot: a changed value, perhaps a divergence
            page.locator(".neurodebug .nd-step").click()
            page.wait_for_function(f"() => /step {n} of/.test(document.querySelector('.neurodebug .nd-header')"
                                   ".innerText)", timeout=60_000)
        assert _step_number(page) == 7
        page.locator(".neurodebug .nd-back").click()
        page.wait_for_function("() => /step 6 of/.test(document.querySelector('.neurodebug .nd-header').innerText)",
                               timeout=60_000)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        # the cells and the view, without JupyterLab's chrome (nor its "Jupyter news?" toast)
        panel = page.locator(".jp-NotebookPanel-notebook").first.bounding_box()
        top = page.locator(".jp-Notebook .jp-Cell").first.bounding_box()
        view = page.locator(".neurodebug").first.bounding_box()
        page.screenshot(path=str(SCREENSHOT), clip={"x": panel["x"], "y": top["y"] - 8, "width": panel["width"],
                                                   "height": view["y"] + view["height"] - top["y"] + 16})
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-failed.png"))
        raise

"""The magics in a real kernel: notebooks built with nbformat, run by nbclient on ipykernel with this
interpreter. One notebook for the whole module (a kernel start and the model's load are the cost);
each test reads the outputs of its cells. The bundled model predicts; the tests assert structure
(a widget shown, indices that move, one sentence), never what it predicts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
WIDGET = "application/vnd.jupyter.widget-view+json"
FACT = "def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n"

#: name -> cell source; run in this order.
CELLS = {
    "load": "%load_ext neurodebug.notebook",
    "python": "import sys, os\nprint(sys.executable)",
    "defs": "LIMIT = 1\ndef helper(n):\n    return n - 1\n\n" + FACT.replace("<= 1", "<= LIMIT").replace("n - 1)", "helper(n))"),
    "magic": "w = %neurodebug --max-frames 8 --seed 0 fact(3)",
    "index0": "print(w.session.index)",
    "steps": "w.step()\nw.step()\nprint(w.session.index)",
    "back": "w.back()\nprint(w.session.index, w.slider.value)",
    "source": "print(repr(w.session.source))",
    "again": "w",
    "cell_magic": "%%neurodebug --max-frames 5 --seed 0 g(2)\ndef g(x):\n    y = x + 1\n    return y\n",
    "cell_value": "c = _\nprint(type(c).__name__, c.session.entry, c.session.index, 'g' in globals())",
    "unknown": "%neurodebug nothere(1)",
    "misfit": "%neurodebug fact(1, 2)",
    "syntax": "%%neurodebug g(1)\ndef g(x:\n    return x\n",
    "model": "%neurodebug --model /nonexistent/model fact(3)",
    "option": "%neurodebug --max-frames 0 fact(3)",
    "method": "class K:\n    def m(self):\n        return 1\nk = K()\n%neurodebug k.m()",
    "bad_move": "w.run_to(999)",
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, list[dict]]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS.values()]
    # "python3" is ipykernel's own kernel, started with this interpreter (checked below); a cell's
    # error output fails the run (allow_errors=False)
    NotebookClient(nb, kernel_name="python3", timeout=180, allow_errors=False,
                   resources={"metadata": {"path": str(tmp_path_factory.mktemp("notebook"))}}).execute()
    return {name: cell.outputs for name, cell in zip(CELLS, nb.cells)}


def text(outs: list[dict]) -> str:
    """The cell's printed text and plain-text displays."""
    return "".join(o.get("text", "") if o["output_type"] == "stream" else o.get("data", {}).get("text/plain", "")
                   for o in outs)


def widgets(outs: list[dict]) -> list[str]:
    return [o["data"][WIDGET]["model_id"] for o in outs if WIDGET in o.get("data", {})]


def test_the_kernel_runs_this_interpreter(outputs):
    assert text(outputs["python"]).strip() == sys.executable


def test_the_magic_shows_the_widget_and_returns_the_session(outputs):
    assert len(widgets(outputs["magic"])) == 1 and text(outputs["magic"]).startswith("VBox(")
    assert text(outputs["index0"]) == "0\n"


def test_stepping_the_returned_object_moves_the_session(outputs):
    assert text(outputs["steps"]) == "2\n"
    assert text(outputs["back"]) == "1 2\n"  # the slider counts steps from 1


def test_the_source_is_the_functions_def_and_what_it_uses(outputs):
    source = eval(text(outputs["source"]))  # noqa: S307 - our own repr
    assert source.startswith("LIMIT = 1\n") and "def helper(n):" in source and "def fact(n):" in source


def test_the_object_as_a_later_cells_value_shows_the_same_widget(outputs):
    assert widgets(outputs["again"]) == widgets(outputs["magic"])


def test_the_cell_magic_debugs_its_cell_without_running_it(outputs):
    assert len(widgets(outputs["cell_magic"])) == 1
    assert text(outputs["cell_value"]) == "Debugger g 0 False\n"


@pytest.mark.parametrize("cell, sentence", [
    ("unknown", "There is no function 'nothere' in the notebook: define it in an earlier cell (and run that cell), "
                "or import it."),
    ("misfit", "The call fact(1, 2) does not fit fact(n): too many positional arguments."),
    ("syntax", "The cell has a syntax error at line 1: '(' was never closed."),  # the line under the magic's
    ("model", "There is no model at /nonexistent/model."),
    ("option", "The option --max-frames cannot be 0: input should be greater than or equal to 1."),
    ("method", "k.m is a method, and a method cannot be the entry yet: debug a function that calls it."),
    ("bad_move", "Line 999 is not a line of the source."),
])
def test_bad_input_is_one_sentence_never_a_traceback(outputs, cell, sentence):
    outs = outputs[cell]
    assert all(o["output_type"] in ("stream", "display_data", "execute_result") for o in outs)
    assert "Traceback" not in json.dumps(outs) and widgets(outs) == []
    said = text(outs)
    if cell == "bad_move":  # w.run_to returns the current frame: the cell's value
        said = "".join(o["text"] for o in outs if o["output_type"] == "stream")
    assert said.strip() == sentence


STUCK = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from neurodebug.options import SessionOptions
from neurodebug.session import Session
from neurodebug.notebook.widget import Debugger
from tests.notebook.stuck import Stuck

LOOP = "def loop(n):\\n    t = 0\\n    for i in range(n):\\n        t += i\\n    return t\\n"
options = SessionOptions(max_frames=5000)
w = Debugger(Session(LOOP, "loop", "loop(10000)", options, predictor=Stuck(options.make_predictor())))
w.start()
print("started", w.session.index)
"""


def test_the_kernels_interrupt_cancels_the_prediction_and_leaves_the_session_consistent(tmp_path):
    import os
    import signal
    import threading
    import time

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(STUCK),
                nbformat.v4.new_code_cell("w.cont()", metadata={"tags": ["raises-exception"]}),
                nbformat.v4.new_code_cell("s = w.session\nprint(len(s.frames) == s.index + 1, s.ended, w.outcome)\n"
                                          "before = s.index\nw.step()\nprint(s.index == before + 1)")]
    client = NotebookClient(nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        # the kernel's interrupt (■): what the kernel manager does for ipykernel's interrupt_mode "signal"
        timer = threading.Timer(2.0, os.kill, (client.km.provisioner.pid, signal.SIGINT))
        timer.start()
        t0 = time.monotonic()
        client.execute_cell(nb.cells[1], 1)
        assert time.monotonic() - t0 < 30  # stopped, not run to the cap of 5000 frames
        client.execute_cell(nb.cells[2], 2)
    assert text(nb.cells[0].outputs) == "started 0\n"
    interrupted = nb.cells[1].outputs
    assert [o.get("ename") for o in interrupted if o["output_type"] == "error"] == ["KeyboardInterrupt"]
    assert any(o.get("text", "").startswith("Interrupted: the session stays at step ") for o in interrupted)
    assert text(nb.cells[2].outputs) == "True False interrupted\nTrue\n"  # at a whole frame; it steps on

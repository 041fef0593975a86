"""A session on project code: the model reads the context the entry reaches, and every predicted
frame comes back on its own file and line, in the comparison, the JSON and the TUI's source pane."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from neurodebug.errors import UserError
from neurodebug.model.tokenizer import llama3_tokenizer
from neurodebug.real.tracer import trace_file
from neurodebug.trace.context import build
from neurodebug.trace.source import read_source, trace_root
from neurodebug.tui import present
from tests.replay import ReplayPredictor
from tests.sessions import started_file

MAIN = "from helpers import double\n\n\ndef run(n):\n    m = double(n)\n    return m + 1\n"
HELPERS = "def double(v):\n    r = v * 2\n    return r\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "main.py").write_text(MAIN)
    return tmp_path


def replay_of(path, entry, call):
    """A model that writes the real run of ``call`` on the context the session builds."""
    real = trace_file(path, entry, call)
    context = build(path, read_source(path), trace_root(path), real.entry,
                    real.call if entry is None else None, lambda text: True, read_source)
    return ReplayPredictor(llama3_tokenizer(), [replace(real, source=context.text)]), real


def test_predicted_frames_are_on_their_own_files(project):
    predictor, real = replay_of(project / "main.py", "run", "3")
    s = started_file(project / "main.py", predictor, "run", "3", seed=0)
    assert "# file: helpers.py" in s.context.text  # the callee's file is in what the model reads
    s.cont()
    got = [(f.event, f.file, f.line) for f in s.frames]
    assert got == [(f.event, f.file, f.line) for f in real.frames]
    assert ("call", "helpers.py", 1) in got and s.end.reason == "end_of_text"
    assert s.comparison().metrics.state_exact == 1.0 and s.comparison().first_divergence is None
    assert s.teacher_forced().metrics.action_exact == 1.0
    frames = json.loads(s.predicted_trace().to_json())["frames"]
    assert {f["file"] for f in frames} == {"main.py", "helpers.py"}


def test_the_source_pane_follows_the_frame_into_another_file(project):
    predictor, _ = replay_of(project / "main.py", "run", "3")
    s = started_file(project / "main.py", predictor, "run", "3", seed=0)
    s.run_to(2, "helpers.py")
    shown = present.shown(s.view(), None, None, True)
    assert (shown.file, shown.home, shown.predicted_line, shown.real_line) == ("helpers.py", False, 2, 2)
    assert shown.source == HELPERS
    s.out()
    s.step()
    back = present.shown(s.view(), None, None, True)
    assert (back.file, back.home, back.source) == ("main.py", True, MAIN)
    with pytest.raises(UserError, match="^Line 9 is not a line of helpers.py.$"):
        s.run_to(9, "helpers.py")


def test_a_method_call_is_predicted_from_its_expression(tmp_path):
    path = tmp_path / "stack.py"
    path.write_text("class Stack:\n    def __init__(self):\n        self.items = []\n\n"
                    "    def push(self, x):\n        self.items.append(x)\n        return len(self.items)\n")
    predictor, real = replay_of(path, None, "Stack().push(3)")
    s = started_file(path, predictor, None, "Stack().push(3)", seed=0, run_real=False)
    assert s.frames[0].source == "def __trace__():" and s.frames[0].file == "<call>"  # no real run needed
    s.cont()
    assert [(f.func, f.file, f.line, f.depth) for f in s.frames] == [(f.func, f.file, f.line, f.depth) for f in real.frames]
    assert s.frames[-1].arg == "1"


def test_next_steps_over_every_call_a_line_makes(tmp_path):
    path = tmp_path / "nodes.py"
    path.write_text("class Node:\n    def __init__(self, value):\n        self.value = value\n\n\n"
                    "def wrap(v):\n    return [v]\n\n\n"
                    "def run(n):\n    out = wrap(Node(n))\n    return len(out)\n")
    predictor, real = replay_of(path, "run", "1")
    s = started_file(path, predictor, "run", "1", seed=0)
    s.next()
    assert (s.current.event, s.current.line, s.current.depth) == ("line", 11, 0)
    s.next()  # over Node(n) and wrap(...): both calls of line 11
    assert (s.current.event, s.current.line, s.current.depth) == ("line", 12, 0), s.current
    s.next()
    assert (s.current.event, s.current.line) == ("return", 12)

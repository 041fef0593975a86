"""The corpus's project code (issue #25): a class's method entered by a call expression, a package
function reaching another module, test functions around both, the held-out split, determinism."""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import sys

import pytest

from neurodebug.cli import main as cli_main
from neurodebug.trace.context import CALL_ENTRY, call_function
from neurodebug.trace.frames import End
from neurodebug.training import corpus

TRAIN_EXTRA = "the `train` extra is not installed"

COUNTER = '''class Counter:
    """Counts up from a start.

    >>> c = Counter(2)
    >>> c.add(3)
    5
    """

    def __init__(self, start=0):
        self.total = start

    def add(self, n):
        self.total = self.total + n
        return self.total
'''
CORE = '''from .helpers import double


def run(n):
    """>>> run(3)
    7
    """
    m = double(n)
    return m + 1
'''
HELPERS = "def double(v):\n    r = v * 2\n    return r\n"
PROV = {"package": "geo", "distribution": "geo", "version": "0", "license": "MIT"}


def _rows(folder, module, kinds, seed=0):
    """In a worker of its own (the I/O guard is an audit hook, which stays for the process's life)."""
    sys.path.insert(0, folder)
    corpus._install_guard()
    return corpus.module_rows(module, dict(PROV), random.Random(seed), 2, 6, kinds)


def rows_of(folder, module, kinds, seed=0):
    with mp.get_context("fork").Pool(1) as pool:
        return pool.apply(_rows, (str(folder), module, kinds, seed))


@pytest.fixture
def project(tmp_path):
    (tmp_path / "counter_mod.py").write_text(COUNTER)
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "__init__.py").write_text("")
    (tmp_path / "geo" / "core.py").write_text(CORE)
    (tmp_path / "geo" / "helpers.py").write_text(HELPERS)
    return tmp_path


def test_a_method_trace_is_kept_with_its_constructor_frames(project):
    rows = rows_of(project, "counter_mod", ("method",))
    row = next(r for r in rows if r["call"] == "Counter(2).add(3)")  # the doctest's chain comes first
    assert row["entry"] == CALL_ENTRY and row["source"].endswith("\n\n" + call_function("Counter(2).add(3)"))
    assert row["source"].startswith(COUNTER)  # the class's file, then the call function
    calls = [(f["func"], f["depth"], f["file"]) for f in row["frames"] if f["event"] == "call"]
    assert calls == [(CALL_ENTRY, 0, "<call>"), ("__init__", 1, None), ("add", 1, None)]
    assert row["end"]["value"] == "5" and row["frames"][-1]["arg"] == "5"
    assert any(f["locals"].get("self") == "Counter(total=2)" for f in row["frames"])  # no address
    p = row["provenance"]
    assert (p["kind"], p["class"], p["function"], p["module"]) == ("method", "Counter", "Counter.add", "counter_mod")


def test_a_multi_file_function_is_written_on_the_multi_file_context(project):
    rows = rows_of(project, "geo.core", ("multi-file", "test"))
    row = next(r for r in rows if r["provenance"]["kind"] == "multi-file" and r["call"] == "3")
    assert row["source"].startswith("# file: geo/core.py\n") and "\n# file: geo/helpers.py\n" in row["source"]
    assert {f["file"] for f in row["frames"]} == {"geo/core.py", "geo/helpers.py"}
    assert ("call", "geo/helpers.py", 1, 1) in [(f["event"], f["file"], f["line"], f["depth"]) for f in row["frames"]]
    assert row["end"]["value"] == "7" and row["provenance"]["function"] == "run"
    test = next(r for r in rows if r["provenance"]["kind"] == "test")
    assert test["entry"] == "test_run" and test["call"] == ""
    assert "# file: tests/test_run.py\nfrom geo.core import run" in test["source"]
    assert {f["file"] for f in test["frames"]} == {"tests/test_run.py", "geo/core.py", "geo/helpers.py"}
    assert test["end"]["reason"] == "returned"


def test_a_test_function_asserts_what_the_real_run_gave(project):
    assert corpus.test_source("add", "add(1, 2)", End("returned", "", "3")) == (
        "def test_add():\n    result = add(1, 2)\n    assert result == 3\n")
    raised = corpus.test_source("pop", "Stack().pop()", End("raised", "", "IndexError('empty')"))
    assert "    except IndexError:\n        return\n" in raised
    assert corpus.test_source("f", "f()", End("returned", "", "Counter(total=2)")) is None
    rows = rows_of(project, "counter_mod", ("method", "test"))
    test = next(r for r in rows if r["provenance"]["kind"] == "test")
    assert test["entry"] == "test_counter_add" and test["source"].startswith(COUNTER)
    assert "def test_counter_add():\n    result = Counter(2).add(3)\n    assert result == 5\n" in test["source"]
    assert [f["func"] for f in test["frames"] if f["event"] == "call"] == ["test_counter_add", "__init__", "add"]
    assert test["provenance"]["test"] == "test_counter_add" and test["provenance"]["function"] == "Counter.add"


def test_the_same_seed_gives_the_same_rows(project):
    kinds = ("method", "multi-file", "test")
    first = rows_of(project, "counter_mod", kinds) + rows_of(project, "geo.core", kinds)
    again = rows_of(project, "counter_mod", kinds) + rows_of(project, "geo.core", kinds)
    assert first == again and len(first) >= 4
    assert len({r["id"] for r in first}) == len(first)


def test_a_heldout_package_keeps_its_project_traces_out_of_training(tmp_path):
    pytest.importorskip("boltons", reason=TRAIN_EXTRA)
    out = tmp_path / "out"
    assert cli_main(["corpus", "--out", str(out), "--packages", "boltons", "--heldout", "boltons",
                     "--stdlib", "colorsys", "--kinds", "function", "method", "multi-file", "--tries", "4",
                     "--per-function", "1", "--jobs", "1"]) == 0
    read = lambda name: [json.loads(line) for line in (out / name).read_text().splitlines()]  # noqa: E731
    train, held, suite = read("train.jsonl"), read("heldout.jsonl"), read("real_heldout.jsonl")
    assert {r["provenance"]["package"] for r in held} == {"boltons"}
    assert {r["provenance"].get("kind", "function") for r in held} == {"function", "method"}
    assert train and {r["provenance"]["package"] for r in train} == {"stdlib"}
    # the held-out suite's records stay one-file functions: a method's call expression is no input
    assert len(suite) == sum(1 for r in held if "kind" not in r["provenance"])
    kinds = json.loads((out / "kinds.json").read_text())
    assert kinds["boltons"]["method"] == sum(1 for r in held if r["provenance"].get("kind") == "method")

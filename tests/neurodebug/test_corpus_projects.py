"""The corpus's project code (issue #25): a class's method entered by a call expression, one instance
through a sequence of method calls, a package function reaching another module, test functions
around both, the held-out split, determinism."""

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
STACK = '''class Stack:
    """A stack on a list.

    >>> s = Stack()
    >>> s.push(3)
    >>> s.push(5)
    >>> s.pop()
    5
    """

    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        if not self.items:
            raise IndexError("pop from an empty stack")
        return self.items.pop()
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
    (tmp_path / "stack_mod.py").write_text(STACK)
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


def test_a_sequence_takes_one_instance_through_its_doctest_calls(project):
    rows = rows_of(project, "stack_mod", ("method", "sequence"))
    call = "s = Stack(); s.push(3); s.push(5); s.pop()"
    row = next(r for r in rows if r["call"] == call)  # the doctest's chain, its three calls
    function = call_function(call)
    assert function == ("def __trace__():\n    s = Stack()\n    s.push(3)\n    s.push(5)\n"
                        "    return s.pop()\n")
    assert call_function("Stack().pop()") == "def __trace__():\n    return Stack().pop()\n"  # as it was
    assert row["entry"] == CALL_ENTRY and row["source"] == STACK + "\n" + function  # whole_file's context
    calls = [(f["func"], f["depth"], f["file"]) for f in row["frames"] if f["event"] == "call"]
    assert calls == [(CALL_ENTRY, 0, "<call>"), ("__init__", 1, None), ("push", 1, None), ("push", 1, None),
                     ("pop", 1, None)]
    selves = [f["locals"]["self"] for f in row["frames"] if f["event"] == "call" and f["func"] != CALL_ENTRY]
    assert selves[1:] == ["Stack(items=[])", "Stack(items=[3])", "Stack(items=[3, 5])"]  # the state carried
    own = [(f["line"], f["source"]) for f in row["frames"] if f["file"] == "<call>" and f["event"] == "line"]
    assert own == list(enumerate(function.splitlines(), 1))[1:]  # each statement on its line
    assert row["end"]["value"] == "5" and row["end"]["reason"] == "returned"
    p = row["provenance"]
    assert (p["kind"], p["class"], p["function"], p["methods"], p["origin"]) == (
        "sequence", "Stack", "Stack.pop", ["push", "push", "pop"], "doctest")
    assert 1 <= sum(r["provenance"]["kind"] == "sequence" for r in rows) <= corpus.PER_CLASS_SEQUENCES
    # sequences leave the method kind's rows as they were
    assert [r for r in rows if r["provenance"]["kind"] == "method"] == rows_of(project, "stack_mod", ("method",))


def test_a_generated_sequence_changes_the_instance_then_reads_it(project):
    rows = [r for r in rows_of(project, "counter_mod", ("sequence",)) if r["provenance"]["origin"] == "generated"]
    assert rows and all(r["call"].startswith("counter = Counter(") for r in rows)
    for row in rows:
        frames = row["frames"]
        adds = [i for i, f in enumerate(frames) if f["event"] == "call" and f["func"] == "add"]
        assert len(adds) == len(row["provenance"]["methods"]) >= 2
        returned = next(f["arg"] for f in frames[adds[0]:] if f["event"] == "return" and f["func"] == "add")
        assert frames[adds[1]]["locals"]["self"] == f"Counter(total={returned})"  # what the first call left
        assert row["end"]["value"] == next(f["arg"] for f in reversed(frames) if f["func"] == "add")


def test_the_call_sequences_of_a_doctest():
    doc = ">>> s = Stack()\n>>> s.push(1)\n>>> s\n>>> s.push(2)\n>>> x = s.pop()\n>>> len(s)\n>>> s.pop()\n"
    assert corpus.doctest_chains(doc, "Stack") == [("s", "Stack()", ["push(1)", "push(2)", "pop()"])]
    assert corpus.doctest_sequences(doc, "Stack") == ["s = Stack(); s.push(1); s.push(2)",
                                                      "s = Stack(); s.push(1); s.push(2); s.pop()"]
    assert corpus.instance_name("ArrayStack") == "stack" and corpus.instance_name("LinkedList") == "obj"


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
    kinds = ("method", "sequence", "multi-file", "test")
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


def test_sequences_of_a_heldout_package_stay_out_of_training(project, monkeypatch):
    monkeypatch.syspath_prepend(str(project))  # the forked workers import the modules from there
    prov = lambda pkg: {**PROV, "package": pkg, "distribution": pkg}  # noqa: E731
    # "p2": a package whose Counter the hash puts in the calibration split
    assert corpus.in_calibration({**prov("p2"), "module": "counter_mod", "function": "Counter.add"})
    modules = [("stack_mod", prov("stacks")), ("counter_mod", prov("counters")), ("counter_mod", prov("p2"))]
    monkeypatch.setattr(corpus, "sources", lambda packages, stdlib: modules)
    out = project / "out"
    corpus.build(out, [], [], ["stacks"], 0, kinds=("sequence",), per_function=2, tries=6, log=lambda _: None)
    read = lambda name: [json.loads(line) for line in (out / name).read_text().splitlines()]  # noqa: E731
    train, held = read("train.jsonl"), read("heldout.jsonl")
    assert held and {(r["provenance"]["package"], r["provenance"]["kind"]) for r in held} == {("stacks", "sequence")}
    assert train and {(r["provenance"]["package"], r["provenance"]["kind"]) for r in train} == {
        ("counters", "sequence")}
    assert read("real_heldout.jsonl") == [] and read("calibration.jsonl") == []  # no call that eval can run
    kinds = json.loads((out / "kinds.json").read_text())
    assert kinds["stacks"] == {"sequence": len(held)} and kinds["counters"] == {"sequence": len(train)}
    assert kinds["p2"]["sequence"] >= 1  # built, and kept out of every file

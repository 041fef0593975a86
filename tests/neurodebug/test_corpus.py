"""The corpus of real functions end to end at a tiny scale: extraction, inputs, the filter, the
held-out suite, and training on it."""

from __future__ import annotations

import json
import multiprocessing as mp
import re

import pytest

from neurodebug.cli import main as cli_main
from neurodebug.evaluate import load_suite
from neurodebug.real.tracer import trace_source
from neurodebug.training import corpus

TRAIN_EXTRA = "the `train` extra is not installed"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("inflection", reason=TRAIN_EXTRA)  # the package the corpus is built of
    out = tmp_path_factory.mktemp("corpus")
    rc = cli_main(["corpus", "--out", str(out), "--packages", "inflection", "--stdlib", "colorsys", "fnmatch",
                   "--heldout", "inflection", "--builtins", "25", "--tries", "6", "--per-function", "2", "--jobs", "1"])
    assert rc == 0
    read = lambda name: [json.loads(line) for line in (out / name).read_text().splitlines()]  # noqa: E731
    return out, read("train.jsonl"), read("heldout.jsonl")


def test_training_traces_come_with_their_provenance_and_never_from_a_heldout_package(built):
    _, train, held = built
    assert len(train) >= 20 and len(held) >= 10
    packages = {r["provenance"]["package"] for r in train}
    assert packages == {"stdlib", "builtins"}
    assert {r["provenance"]["package"] for r in held} == {"inflection"}
    for r in train + held:
        p = r["provenance"]
        assert p["license"] and p["module"] and p["function"] == r["entry"]
        assert corpus.MIN_FRAMES <= len(r["frames"]) <= corpus.MAX_FRAMES
    assert {r["provenance"]["version"] for r in held} == {__import__("importlib.metadata").metadata.version("inflection")}
    assert len({r["id"] for r in train + held}) == len(train) + len(held)


def test_a_kept_trace_is_what_the_real_tracer_gives_again(built):
    _, train, held = built
    for r in train[:3] + held[:3]:
        again = trace_source(r["source"], r["entry"], r["call"], corpus.limits()).to_json_dict()
        assert again["frames"] == r["frames"] and again["end"] == r["end"]


def test_the_heldout_suite_is_a_suite_of_neurodebug_eval(built):
    out, _, held = built
    records = load_suite(str(out / "real_heldout.jsonl"))
    assert len(records) == len(held)
    r = records[0]
    assert r["entry"] in r["code"] and r["output"] == held[0]["end"]["value"]
    assert r["provenance"]["package"] == "inflection"


def test_the_calibration_split_stays_out_of_training_and_is_a_suite(built):
    out, train, _ = built
    assert not any(corpus.in_calibration(r["provenance"]) for r in train)
    split = [json.loads(line) for line in (out / "calibration.jsonl").read_text().splitlines()]
    assert all(corpus.in_calibration(r["provenance"]) and r["code"] and r["entry"] for r in split)
    # one function in CALIBRATION_EVERY, by its name: a function, its methods and its tests fall together
    where = {"package": "stdlib", "module": "m"}
    picked = [n for n in map(str, range(300)) if corpus.in_calibration({**where, "function": n})]
    assert 300 // corpus.CALIBRATION_EVERY // 2 <= len(picked) <= 2 * 300 // corpus.CALIBRATION_EVERY
    assert all(corpus.in_calibration({**where, "function": f"{n}.method"}) for n in picked)
    assert not corpus.in_calibration({"package": "builtins", "module": "m", "function": picked[0]})


def test_a_calibration_package_is_neither_trained_on_nor_in_the_calibration_split(tmp_path):
    pytest.importorskip("stringcase", reason=TRAIN_EXTRA)
    rc = cli_main(["corpus", "--out", str(tmp_path), "--packages", "stringcase", "--stdlib", "--heldout",
                   "--builtins", "0", "--tries", "4", "--per-function", "1", "--jobs", "1"])
    assert rc == 0
    read = lambda name: (tmp_path / name).read_text().splitlines()  # noqa: E731
    check = load_suite(str(tmp_path / "calibration_packages.jsonl"))
    assert len(check) >= 5 and {r["provenance"]["package"] for r in check} == {"stringcase"}
    assert read("train.jsonl") == read("heldout.jsonl") == read("calibration.jsonl") == []
    assert "stringcase" in corpus.CALIBRATION_PACKAGES and not set(corpus.CALIBRATION_PACKAGES) & set(corpus.HELDOUT)


def test_functions_become_self_contained_programs_with_their_doctest_calls():
    pytest.importorskip("inflection", reason=TRAIN_EXTRA)
    progs = {p.entry: p for p in corpus.extract_programs("inflection", {"package": "inflection"})}
    camel = progs["camelize"]
    assert camel.source.startswith("import re\n")
    assert '"device_type"' in camel.doc_calls
    # ordinalize calls the module's own ordinal(): the helper travels with it
    assert "def ordinal(" in progs["ordinalize"].source
    texts = corpus.candidate_inputs(camel, __import__("random").Random(0), 8)
    assert texts[:2] == camel.doc_calls[:2] and len(set(texts)) == len(texts) == 8


def test_every_public_method_of_the_builtin_types_is_exercised():
    tables = {str: corpus.STR_OPS, list: corpus.LIST_OPS, dict: corpus.DICT_OPS, set: corpus.SET_OPS,
              tuple: corpus.TUPLE_OPS}
    extra = " ".join(corpus.STR_CALLS + corpus.BUILTIN_CALLS)
    for typ, ops in tables.items():
        called = {m for op, _ in ops for m in re.findall(r"(?:^|\.)(\w+)\(", op)} | set(re.findall(r"\.(\w+)\(", extra))
        assert {m for m in dir(typ) if not m.startswith("_")} <= called, typ


def _verdicts(programs):
    """In a worker of its own (the I/O guard is an audit hook, which stays for the process's life)."""
    corpus._install_guard()
    out = {}
    for name, src in programs.items():
        corpus._preimport(src)
        prog = corpus.Program(src, "f", [], [], {})
        out[name] = corpus.trace_program(prog, ["3"], 1)[1]
    return out


def test_the_filter_keeps_only_deterministic_runs_without_io_that_fit():
    body = "def f(x):\n    y = x + 1\n    {}\n    return y\n"
    programs = {
        "file": body.format("y += len(open('/etc/hostname').read())"),
        "listdir": "import os\n" + body.format("z = os.listdir('.')"),
        "print": body.format("print(y)"),
        "random": "import random\n" + body.format("y += random.random()"),
        "address": body.format("o = object()"),
        "str_set": body.format("o = {'a', 'b'}"),
        "misfit": body.format("z = x.upper()"),
        "fine": "import re\n" + body.format("z = re.sub('a', 'b', 'abc')"),
    }
    with mp.get_context("fork").Pool(1) as pool:
        got = pool.apply(_verdicts, (programs,))
    assert got == {"file": {"io": 1}, "listdir": {"io": 1}, "print": {"io": 1}, "random": {"nondeterministic": 1},
                   "address": {"unstable": 1}, "str_set": {"unstable": 1}, "misfit": {"misfit": 1}, "fine": {"kept": 1}}


def test_an_unknown_package_is_one_sentence(tmp_path, capsys):
    assert cli_main(["corpus", "--out", str(tmp_path), "--packages", "nonesuch"]) == 2
    assert "Unknown package 'nonesuch'" in capsys.readouterr().err


def test_the_model_trains_on_the_corpus_and_reports_the_heldout_packages(built, tmp_path):
    from neurodebug.training import train

    out, _, _ = built
    work = tmp_path / "work"
    assert train.main(["--out", str(tmp_path / "ckpt"), "--work", str(work), "--size", "test", "--steps", "2",
                       "--data", str(out / "train.jsonl"), "--heldout-data", str(out / "heldout.jsonl"),
                       "--jobs", "0", "--tokenizer-traces", "24", "--heldout-programs", "4", "--batch-tokens", "2048",
                       "--eval-every", "2", "--warmup", "1", "--threads", "1", "--quiet", "--max-len", "4096"]) == 0
    log = (work / "log.txt").read_text()
    assert re.search(r"heldout\.jsonl: loss \d+\.\d+, frame acc", log)

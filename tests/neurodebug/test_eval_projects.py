"""`neurodebug eval` on suite records that carry a small project ("files", "path"): the record runs
from its entry file written into a fresh project folder, so the model reads the project's context
and the real run crosses its files; the folder is gone once the record is scored."""

from __future__ import annotations

import gc
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from neurodebug import evaluate
from neurodebug.codec import Codec
from neurodebug.errors import UserError
from neurodebug.model.tokenizer import llama3_tokenizer
from neurodebug.real.tracer import trace_file
from neurodebug.trace.context import CALL_ENTRY, build
from neurodebug.trace.source import read_source, trace_root
from tests.replay import ReplayPredictor

SUITES = Path(__file__).resolve().parents[2] / "examples" / "suites"

STACK = ("from .sizes import grown\n\n\nclass Stack:\n    def __init__(self):\n        self.items = []\n\n"
         "    def push(self, x):\n        self.items.append(x)\n        return grown(len(self.items))\n")
SIZES = "def grown(n):\n    m = n * 2\n    return m\n"
FILES = {"pkg/__init__.py": "", "pkg/stack.py": STACK, "pkg/sizes.py": SIZES}


def project_record(call: str, entry: str = CALL_ENTRY, **extra) -> dict:
    return {"id": "p", "code": STACK, "input": call, "entry": entry, "path": "pkg/stack.py", "files": dict(FILES),
            **extra}


def replay_of_record(rec: dict, tmp_path) -> tuple[ReplayPredictor, object]:
    """A model that writes the record's real run on the context a session on its project builds."""
    evaluate._write_project(str(tmp_path), rec["files"])
    path = tmp_path / rec["path"]
    real = trace_file(path, rec["entry"], rec["input"])
    call = rec["input"] if rec["entry"] == CALL_ENTRY else None
    context = build(path, read_source(path), trace_root(path), real.entry, call, lambda text: True, read_source)
    return ReplayPredictor(llama3_tokenizer(), [replace(real, source=context.text)]), real


def test_a_project_record_is_scored_on_its_project(tmp_path):
    rec = project_record("Stack().push(3)")
    predictor, real = replay_of_record(rec, tmp_path)
    assert {f.file for f in real.frames} == {"<call>", "pkg/stack.py", "pkg/sizes.py"}
    r = evaluate.eval_record(rec, predictor, Codec(predictor.tokenizer), teacher=False)
    assert r.error is None and r.real_reason == "returned" and r.n_real == len(real.frames)
    assert (r.state, r.action, r.output) == (r.counted, r.counted, True)  # the replayed run, frame for frame


def test_teacher_forcing_reads_the_project_context(tmp_path):
    rec = project_record("Stack().push(3)")
    predictor, _ = replay_of_record(rec, tmp_path)
    r = evaluate.eval_record(rec, predictor, Codec(predictor.tokenizer))
    assert (r.tf_state, r.tf_action, r.tf_output) == (r.counted, r.counted, True)


def test_an_argument_list_names_its_entry_as_before(tmp_path):
    files = {**FILES, "pkg/stack.py": STACK + "\n\ndef pushed(x):\n    return Stack().push(x)\n"}
    rec = {**project_record("5", entry="pushed"), "files": files, "code": files["pkg/stack.py"]}
    predictor, real = replay_of_record(rec, tmp_path)
    r = evaluate.eval_record(rec, predictor, Codec(predictor.tokenizer), teacher=False)
    assert r.error is None and real.end.value == "2" and r.output is True and r.state == r.counted


def test_the_project_folder_is_removed_once_the_record_is_scored(tmp_path, monkeypatch):
    made = []
    mkdtemp = evaluate.tempfile.mkdtemp
    monkeypatch.setattr(evaluate.tempfile, "mkdtemp", lambda **kw: made.append(mkdtemp(**kw)) or made[-1])
    rec = project_record("Stack().push(3)")
    predictor, _ = replay_of_record(rec, tmp_path)
    evaluate.eval_record(rec, predictor, Codec(predictor.tokenizer), teacher=False)
    gc.collect()
    assert len(made) == 1 and not os.path.exists(made[0])
    with pytest.raises(UserError):  # a call the session refuses: the folder goes at once
        evaluate.eval_record(project_record("Stack().push(3)", entry="nope"), predictor, Codec(predictor.tokenizer))
    assert len(made) == 2 and not os.path.exists(made[1])


@pytest.mark.parametrize("change, why", [
    ({"path": "pkg/missing.py"}, '"path" does not name one of them'),
    ({"files": {"../stack.py": STACK}, "path": "../stack.py"}, "the path '../stack.py' is not relative inside"),
    ({"files": {"/tmp/stack.py": STACK}, "path": "/tmp/stack.py"}, "is not relative inside"),
    ({"files": ["pkg/stack.py"]}, "they are not an object of file paths to texts"),
    ({"code": "x = 1\n"}, "the text of 'pkg/stack.py' is not \"code\""),
])
def test_a_bad_project_record_is_one_sentence(tmp_path, change, why):
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({**project_record("Stack().push(3)"), **change}) + "\n")
    with pytest.raises(UserError, match=r'^Line 1 of .*s\.jsonl has "files" but ') as e:
        evaluate.load_suite(str(suite))
    assert why in str(e.value) and str(e.value).endswith(".") and "\n" not in str(e.value)


def test_a_good_project_record_loads(tmp_path):
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps(project_record("Stack().push(3)")) + "\n")
    (rec,) = evaluate.load_suite(str(suite))
    assert rec["files"] == FILES and rec["entry"] == CALL_ENTRY and rec["path"] == "pkg/stack.py"


def test_the_projects_suite_is_well_formed():
    recs = evaluate.load_suite(str(SUITES / "projects.jsonl"))
    assert 40 <= len(recs) <= 80 and len({r["id"] for r in recs}) == len(recs)
    sources = {r["id"].split(":")[0] for r in recs}
    assert sources == {"boltons", "inflection", "python-string-utils", "shop"}
    for r in recs:
        package = r["path"].split("/")[0]
        assert f"{package}/__init__.py" in r["files"]  # the package, as installed
        assert r["id"].split(":")[1].split(".")[0] == package.removesuffix(".py")
    assert sum(r["entry"] == CALL_ENTRY for r in recs) >= 10  # constructor + method calls
    assert sum(len(r["files"]) > 1 for r in recs) >= len(recs) // 2


def test_a_projects_record_gives_its_output_when_run_from_its_files(tmp_path):
    """A few records, run as eval runs them: the end value is the record's "output"."""
    recs = evaluate.load_suite(str(SUITES / "projects.jsonl"))
    for rec in [r for r in recs if r["id"].startswith("shop:")][:2] + [r for r in recs if "LRU." in r["id"]][:1]:
        folder = tmp_path / rec["id"].replace(":", "_")
        evaluate._write_project(str(folder), rec["files"])
        real = trace_file(folder / rec["path"], rec["entry"], rec["input"])
        assert real.end.value == rec["output"], rec["id"]
        assert len({f.file for f in real.frames if f.file != "<call>"}) >= 1


def test_the_baseline_reads_each_frames_own_file(tmp_path):
    """The baseline guesses the next statement of the function a frame is in, in that frame's file:
    on project code it gets the lines of sizes.py and of the call expression's function right."""
    rec = project_record("Stack().push(3)")
    predictor, _ = replay_of_record(rec, tmp_path)
    r = evaluate.eval_record(rec, predictor, Codec(predictor.tokenizer))
    assert r.bt_action > 0, r
    files_seen = evaluate.baseline_free(trace_file(tmp_path / rec["path"], rec["entry"], rec["input"]),
                                        {"<call>": "def __trace__():\n    return Stack().push(3)\n"})
    assert [(f.event, f.file, f.line) for f in files_seen.frames] == [
        ("call", "<call>", 1), ("line", "<call>", 2), ("return", "<call>", 2)]

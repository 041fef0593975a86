"""`neurodebug predict | compare | debug | serve` on the tiny random checkpoint, and their user errors.

A random model writes malformed frames: these tests check what the commands print and return
(tables, JSON fields, the prompt's commands, exit codes), not the model's skill. Frames are
capped at a few tokens to keep them fast.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.request

import pytest

from neurodebug import backends
from neurodebug.cli import main
from neurodebug.codec import Codec
from neurodebug.real.tracer import trace_source
from tests.programs import WORKED_EXAMPLE

SOURCE = WORKED_EXAMPLE
FAST = ["--max-frame-tokens", "6", "--max-frames", "4"]
#: compare's real run is capped at --max-frames too (SessionOptions.limits): 12 keeps its 9 frames
FAST_COMPARE = ["--max-frame-tokens", "6", "--max-frames", "12"]


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    p = tmp_path_factory.mktemp("cli") / "prog.py"
    p.write_text(SOURCE)
    return p


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_compare_json(capsys, prog, cwm_checkpoint):
    rc, out, err = run(capsys, "compare", prog, "--call", "f(1)", "--model", cwm_checkpoint, "--json", *FAST_COMPARE)
    assert rc == 0, err
    d = json.loads(out)
    assert d["mode"] == "free_running" and d["call"] == "1" and d["real_end"]["reason"] == "returned"
    assert d["rows"][0]["real"]["locals"] == {"n": "1"} and d["rows"][0]["predicted"]["locals"] == {"n": "1"}
    assert d["first_divergence"]["step"] == 1
    assert set(d["metrics"]) == {"valid_format", "state_exact", "action_exact", "output_match", "n_real", "n_predicted"}
    assert d["metrics"]["n_real"] == 9 and d["predicted_end"]["reason"] in ("token_cap", "frame_cap", "end_of_text")
    assert d["speed"]["frames"] >= 1 and d["speed"]["forwards_per_frame"] > 0


def test_compare_table(capsys, prog, cwm_checkpoint):
    rc, out, err = run(capsys, "compare", prog, "--call", "1", "--model", cwm_checkpoint, "--width", "160", *FAST)
    assert rc == 0, err
    assert "real locals" in out and "predicted locals" in out and "def f(n):" in out
    assert "first divergence: At step 2" in out and "state exact" in out and "output match" in out
    assert "prediction: " in out and "forwards/frame" in out


def test_compare_table_rows_are_capped_and_say_so(capsys, prog, cwm_checkpoint):
    rc, out, err = run(capsys, "compare", prog, "--call", "1", "--model", cwm_checkpoint, "--width", "160",
                       "--rows", "3", *FAST_COMPARE)
    assert rc == 0, err
    assert "… 6 more steps not shown (--rows 0 shows all)" in out  # 9 real frames, 3 shown
    assert "return t * 2" not in out.split("more steps not shown")[0]
    assert run(capsys, "compare", prog, "--call", "1", "--model", cwm_checkpoint, "--rows", "-1")[0] == 2


def test_compare_teacher_forced(capsys, prog, cwm_checkpoint):
    rc, out, err = run(capsys, "compare", prog, "--call", "f(1)", "--model", cwm_checkpoint, "--teacher-forced",
                       "--json", *FAST_COMPARE)
    assert rc == 0, err
    d = json.loads(out)
    real = trace_source(SOURCE, "f", "1")
    from neurodebug.model.tokenizer import load_tokenizer

    ids, _ = Codec(load_tokenizer(cwm_checkpoint)).encode_trace(real)
    assert d["mode"] == "teacher_forced" and d["tokens_scored"] == len(ids)
    assert len(d["frames"]) == len(real.frames)
    rc, out, err = run(capsys, "compare", prog, "--call", "f(1)", "--model", cwm_checkpoint, "--teacher-forced",
                       "--width", "160", *FAST_COMPARE)
    assert rc == 0 and "one forward pass over" in out and "model instead" in out


def test_predict_prints_frames(capsys, prog, cwm_checkpoint):
    rc, out, err = run(capsys, "predict", prog, "--call", "f(3)", "--model", cwm_checkpoint, *FAST)
    assert rc == 0, err
    lines = out.splitlines()
    assert "call" in lines[1] and "n=3" in lines[1]
    assert lines[-1].startswith("# ") and "frames/s" in lines[-1] and "forwards/frame" in lines[-1]
    rc, out, err = run(capsys, "predict", prog, "--call", "f(3)", "--model", cwm_checkpoint, "--json", *FAST)
    d = json.loads(out)
    assert rc == 0 and d["frames"][0]["locals"] == {"n": "3"} and 2 <= len(d["frames"]) <= 4
    speed = d["speed"]  # what the model predicted: the frames after the forced call frame, maybe the end
    assert speed["frames"] in (len(d["frames"]) - 1, len(d["frames"])) and 0 < speed["forwards"] <= speed["tokens"]
    # one forward per token: the same frames
    rc, out, err = run(capsys, "predict", prog, "--call", "f(3)", "--model", cwm_checkpoint, "--json", "--no-lookahead",
                       *FAST)
    slow = json.loads(out)
    # the same frames; their confidence from logits batched otherwise, equal up to rounding
    confidence = [[(f.pop("confidence", None), *sorted(f.pop("locals_confidence", {}).values())) for f in got["frames"]]
                  for got in (slow, d)]
    assert [x for row in confidence[0] for x in row if x is not None] == \
        pytest.approx([x for row in confidence[1] for x in row if x is not None], rel=1e-5)
    assert rc == 0 and slow["frames"] == d["frames"] and slow["speed"]["forwards"] >= speed["forwards"]


def test_debug_prompt(capsys, prog, cwm_checkpoint, monkeypatch):
    cmds = "h\ns\np\np n\nb\nset n = 5\np n\nuntil 99\nbogus\nreset\nw\nq\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(cmds))
    rc, out, err = run(capsys, "debug", prog, "--call", "f(1)", "--model", cwm_checkpoint, *FAST)
    assert rc == 0, err
    assert "[1] -> 6: def f(n):" in out and "real:      line 6 (call) n=1" in out
    assert "s, step" in out  # help
    assert "[2] ->" in out  # a step
    assert "predicted: n=5" in out  # set on the call frame
    assert "*** Line 99 is not a line" in out and "Unknown command 'bogus'" in out
    assert out.count("(nd) ") == cmds.count("\n")


@pytest.mark.parametrize("argv,msg", [
    (["compare", "missing.py", "--call", "f(1)", "--model", "{ckpt}"], "There is no file"),
    (["compare", "{prog}", "--call", "f(1", "--model", "{ckpt}"], "neither an argument list"),
    (["compare", "{prog}", "--call", "g(1)", "--entry", "g", "--model", "{ckpt}"], "g"),
    (["predict", "{prog}", "--call", "f(1)", "--model", "/no/such/model"], "There is no model at"),
    (["predict", "{prog}", "--call", "f(1)", "--model", "{ckpt}", "--url", "http://x"], "--url only applies"),
    (["predict", "{prog}", "--call", "f(1)", "--backend", "http", "--url", "http://127.0.0.1:9",
      "--model", "{ckpt}"], "Cannot reach the model server"),
    (["predict", "{prog}", "--call", "f(1)", "--model", "{ckpt}", "--top-p", "0"], "--top-p"),
    (["serve", "--backend", "http"], "serve runs a model itself"),
])
def test_user_errors_exit_2_with_one_sentence(capsys, prog, cwm_checkpoint, argv, msg):
    argv = [a.format(prog=prog, ckpt=cwm_checkpoint) for a in argv]
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and err.startswith("neurodebug: ") and msg in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_no_model_and_no_bundled_model(capsys, prog, monkeypatch, tmp_path):
    monkeypatch.setattr(backends, "BUNDLED_DIR", tmp_path)
    rc, out, err = run(capsys, "compare", prog, "--call", "f(1)")
    assert rc == 2 and err == "neurodebug: No model given and the bundled model is not installed; pass --model PATH.\n"


def test_serve_command_in_a_child_process(cwm_checkpoint):
    proc = subprocess.Popen([sys.executable, "-m", "neurodebug", "serve", "--model", str(cwm_checkpoint), "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "serving" in line and "http://127.0.0.1:" in line, line
        url = line.split(" on ")[1].split()[0]
        body = json.dumps({"prompt": [128000, 128107, 9906], "max_tokens": 3, "temperature": 0,
                           "stop": "<|frame_sep|>"}).encode()
        req = urllib.request.Request(url + "/completions", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            rep = json.loads(r.read())
        assert len(rep["choices"][0]["tokens"]) <= 3 and rep["object"] == "text_completion"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_compare_takes_the_call_from_the_comment_or_says_what_is_missing(tmp_path, capsys):
    from neurodebug.cli import main

    src = tmp_path / "prog.py"
    src.write_text("def f(n):  # << START_OF_TRACE\n    return n + 1\n")
    # no --call and no '# neurodebug:' comment: one sentence, before any model is loaded
    assert main(["compare", str(src), "--model", str(tmp_path / "no-model")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurodebug: No call given: pass --call") and "\n" not in err
    # with the comment, the call is found and the next problem (the missing model) is reported
    src.write_text("# neurodebug: f(2)\ndef f(n):  # << START_OF_TRACE\n    return n + 1\n")
    assert main(["compare", str(src), "--model", str(tmp_path / "no-model")]) == 2
    assert "no model" in capsys.readouterr().err.lower()


def test_compare_names_a_bad_path_or_function_before_asking_for_a_call(tmp_path, capsys):
    from neurodebug.cli import main

    def error(*argv) -> str:
        assert main(["compare", *argv, "--model", str(tmp_path / "no-model")]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err
        return err

    assert error(str(tmp_path / "nope.py")) == f"neurodebug: There is no file {str(tmp_path / 'nope.py')!r}."
    src = tmp_path / "prog.py"
    src.write_text("def g():\n    return 1\n\ndef f(n):\n    return n + 1\n")
    assert error(str(src), "--entry", "nothere") == "neurodebug: There is no function 'nothere' in the source."
    assert error(str(src), "--entry", "f").startswith("neurodebug: No call given")
    # an entry without parameters needs no call: the next problem is the missing model
    assert "no model" in error(str(src), "--entry", "g").lower()

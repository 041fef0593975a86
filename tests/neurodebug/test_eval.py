"""`neurodebug eval`: suites, the trivial baseline, and a model scored on real records."""

from __future__ import annotations

import json

import pytest

from neurodebug import evaluate
from neurodebug.cli import main
from neurodebug.compare import compare
from neurodebug.errors import UserError
from neurodebug.real.tracer import trace_source

STRAIGHT = "def f(a):\n    b = a + 1\n    c = b * 2\n    return c\n"


def test_the_baseline_walks_the_source_with_unchanged_locals():
    real = trace_source(STRAIGHT, "f", "3")
    guess = evaluate.baseline_free(real)
    assert [(f.event, f.line) for f in guess.frames] == [("call", 1), ("line", 2), ("line", 3), ("line", 4), ("return", 4)]
    assert all(f.locals == {"a": "3"} for f in guess.frames[:4])
    m = compare(real, guess).metrics
    assert m.action_exact == 1.0  # straight-line code: the baseline's lines are right...
    assert m.state_exact == 0.25  # ...but only the first line's locals are unchanged
    assert m.output_match is False
    n_state, n_action, counted, out = evaluate.baseline_teacher_forced(real)
    assert (n_state, n_action, counted, out) == (1, 4, 4, False)


def test_suites_are_read_with_clear_errors(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps({"code": STRAIGHT, "input": "1"}) + "\n\n" + json.dumps({"id": "b", "code": STRAIGHT, "input": "2"}) + "\n")
    recs = evaluate.load_suite(str(p))
    assert [r["entry"] for r in recs] == ["f", "f"] and recs[1]["id"] == "b"
    assert len(evaluate.load_suite(str(p), limit=1)) == 1
    p.write_text("{not json\n")
    with pytest.raises(UserError, match="Line 1"):
        evaluate.load_suite(str(p))
    with pytest.raises(UserError, match="Cannot read"):
        evaluate.load_suite(str(tmp_path / "missing.jsonl"))


def test_the_shipped_suites_are_well_formed():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "examples" / "suites"
    syn = evaluate.load_suite(str(root / "synthetic_heldout.jsonl"))
    he = evaluate.load_suite(str(root / "humaneval.jsonl"))
    assert len(syn) >= 100 and len(he) >= 150
    assert all(r["id"].startswith("s12345-") for r in syn)  # a seed no training run uses
    assert all(r["id"].startswith("HumanEval/") for r in he)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from neurodebug.training import train

    out = tmp_path_factory.mktemp("evalckpt")
    assert train.main(["--out", str(out), "--work", str(tmp_path_factory.mktemp("w")), "--size", "test", "--steps", "2",
                       "--programs", "8", "--jobs", "0", "--tokenizer-traces", "16", "--heldout-programs", "2",
                       "--batch-tokens", "1024", "--eval-every", "100", "--threads", "1", "--quiet"]) == 0
    return out


def test_eval_scores_a_model_and_the_baseline_with_the_same_metrics(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "MAX_FRAME_TOKENS", 24)  # an untrained model rarely closes a frame
    monkeypatch.setattr(evaluate, "EXTRA_FRAMES", 1)
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"id": "straight", "code": STRAIGHT, "input": "3", "output": "8"}) + "\n"
                     + json.dumps({"id": "boom", "code": "def f(x):\n    return 1 // x\n", "input": "0"}) + "\n"
                     + json.dumps({"id": "bad", "code": "def f(:\n", "input": "0"}) + "\n")
    assert main(["eval", str(suite), "--model", str(checkpoint), "--json", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    s = out["summary"]
    assert s["records"] == 3 and s["scored"] == 2 and s["skipped"] == 1
    recs = {r["id"]: r for r in out["records"]}
    assert recs["bad"]["error"]
    assert recs["boom"]["real_reason"] == "raised" and recs["straight"]["real_reason"] == "returned"
    assert recs["straight"]["counted"] == 4 and recs["straight"]["b_action"] == 4
    for who in ("model", "baseline"):
        for mode in ("free", "teacher_forced"):
            for k in ("state_exact", "action_exact"):
                assert 0.0 <= s[who][mode][k] <= 1.0
    # straight: 4/4; boom (call, line, exception, return None): only the line of 3
    assert s["baseline"]["free"]["action_exact"] == pytest.approx((4 + 1) / (4 + 3))
    assert s["model"]["frames_per_s"] > 0 and s["model"]["forwards_per_frame"] > 0
    # the table form
    assert main(["eval", str(suite), "--model", str(checkpoint), "--limit", "1", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "baseline" in text and "teacher-forced" in text and "records scored" in text
    assert "frames/s" in text and "forwards/frame" in text


def test_eval_reports_a_missing_model_in_one_sentence(tmp_path, capsys):
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"code": STRAIGHT, "input": "3"}) + "\n")
    assert main(["eval", str(suite), "--model", str(tmp_path / "nope")]) == 2
    assert "no model at" in capsys.readouterr().err


def test_eval_reports_a_server_that_is_down_once(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"code": STRAIGHT, "input": "3"}) + "\n")
    assert main(["eval", str(suite), "--backend", "http", "--url", f"http://127.0.0.1:{port}/v1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Cannot reach the model server" in err and "is it running?" in err


def test_eval_over_http_scores_what_the_local_backend_scores(tmp_path, capsys):
    """`neurodebug eval --backend http --url .../v1` (how a vLLM-served CWM is measured): against
    `neurodebug serve` on the bundled model it gives the local backend's numbers, constraints
    and teacher forcing included (two synthetic held-out records)."""
    from pathlib import Path

    from neurodebug.backends import bundled_model, make_predictor
    from neurodebug.serve.server import make_server

    if bundled_model() is None:
        pytest.skip("the bundled model is not installed")
    suite = Path(__file__).resolve().parents[2] / "examples" / "suites" / "synthetic_heldout.jsonl"
    srv = make_server(make_predictor(None), "127.0.0.1", 0)
    srv.start()
    try:
        got = {}
        for how in (["--backend", "http", "--url", srv.url + "/v1"], []):
            assert main(["eval", str(suite), "--limit", "2", "--json", "--threads", "1", *how]) == 0
            got[bool(how)] = json.loads(capsys.readouterr().out)
        # Meta's contract cannot restrict a token, and the summary says so
        assert main(["eval", str(suite), "--limit", "1", "--json", "--no-teacher-forced", "--backend", "http",
                     "--url", srv.url]) == 0
        meta = json.loads(capsys.readouterr().out)["summary"]
        assert meta["constrained"] is False and meta["url"] == srv.url and meta["scored"] == 1
    finally:
        srv.shutdown()
        srv.server_close()
    http, local = got[True], got[False]
    assert http["summary"]["backend"] == "http" and http["summary"]["constrained_flow"] is True
    for mode in ("free", "teacher_forced"):
        assert http["summary"]["model"][mode] == local["summary"]["model"][mode]
    keys = ("id", "state", "action", "valid", "output", "tf_state", "tf_action", "tf_valid", "n_predicted", "divergence")
    assert [{k: r.get(k) for k in keys} for r in http["records"]] == [{k: r.get(k) for k in keys} for r in local["records"]]


def test_a_real_trace_longer_than_the_prediction_cap_is_still_scored():
    """eval's real run records the whole trace (the tracer's cap), not the prediction's MAX_FRAMES."""
    from neurodebug.codec import Codec
    from neurodebug.model.tokenizer import llama3_tokenizer
    from tests.replay import ReplayPredictor

    code = "def f(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n"
    real = trace_source(code, "f", "250")
    assert real.end.reason == "returned" and len(real.frames) > evaluate.MAX_FRAMES
    predictor = ReplayPredictor(llama3_tokenizer(), [real])
    r = evaluate.eval_record({"id": "long", "code": code, "input": "250"}, predictor, Codec(predictor.tokenizer),
                             teacher=False)
    assert r.error is None and r.n_real == len(real.frames)
    assert r.n_predicted == evaluate.MAX_FRAMES  # the prediction stops at its own cap

"""Frames' confidence: the arithmetic against hand-computed numbers, and what predict --json and
eval --frames-out carry on the bundled model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from neurodebug import confidence
from neurodebug.cli import main

SUITES = Path(__file__).resolve().parents[2] / "examples" / "suites"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_auroc_by_hand():
    # positives 0.9 and 0.3 against negatives 0.8, 0.3, 0.1: 0.9 beats all three (3), 0.3 beats
    # 0.1 and ties 0.3 (1.5): 4.5 of 6 pairs
    assert confidence.auroc([0.9, 0.8, 0.3, 0.3, 0.1], [True, False, True, False, False]) == pytest.approx(0.75)
    assert confidence.auroc([0.2, 0.4], [True, True]) is None


def test_expected_calibration_error_by_hand():
    conf, ok = [0.95, 0.95, 0.55, 0.15, 1.0], [True, False, True, False, True]
    # bins: [0.9, 1.0] holds 0.95, 0.95, 1.0 (mean 0.9667, accuracy 2/3); [0.5, 0.6) 0.55 (1.0);
    # [0.1, 0.2) 0.15 (0.0)
    want = 3 / 5 * abs(2 / 3 - 2.9 / 3) + 1 / 5 * abs(1.0 - 0.55) + 1 / 5 * abs(0.0 - 0.15)
    assert confidence.expected_calibration_error(conf, ok) == pytest.approx(want)
    bins = confidence.reliability(conf, ok)
    assert [b["frames"] for b in bins] == [0, 1, 0, 0, 0, 1, 0, 0, 0, 3]
    assert bins[9]["accuracy"] == pytest.approx(2 / 3) and bins[0]["accuracy"] is None
    c = confidence.calibration(conf + [None], ok + [False])  # a frame without confidence is left out
    assert c["frames"] == 5 and c["ece"] == pytest.approx(want)
    # the score for "state wrong" is 1 - confidence: wrong frames at 0.95 and 0.15, right at 0.95, 0.55, 1.0
    assert c["auroc_state_wrong"] == pytest.approx(confidence.auroc([0.05, 0.05, 0.45, 0.85, 0.0],
                                                                    [False, True, False, True, False]))


def test_the_definitions_by_hand():
    lps = [math.log(0.5), 0.0, math.log(0.8)]
    assert confidence.frame_confidence(lps, "product") == pytest.approx(0.4)
    assert confidence.frame_confidence(lps, "min") == pytest.approx(0.5)
    assert confidence.frame_confidence(lps, "geometric_mean") == pytest.approx(0.4 ** (1 / 3))
    assert confidence.frame_confidence([]) is None


def test_the_first_divergence_against_the_first_unsure_frame():
    flagged = confidence.first_divergence_flagged
    assert flagged([(0.9, True), (0.3, False), (0.2, False)], 0.5) == (True, True)
    assert flagged([(0.4, True), (0.3, False)], 0.5) == (False, True)  # warned a frame early
    assert flagged([(0.9, True), (0.8, False), (0.1, False)], 0.5) == (False, False)  # warned too late
    assert flagged([(0.9, True), (None, True)], 0.5) is None  # nothing went wrong
    c = confidence.calibration([0.95, 0.92, 0.3], [True, False, True])
    assert (c["sure_frames"], c["sure_right"]) == (2, 0.5)


def test_on_track_is_the_product_so_far_and_starts_again_at_a_written_frame():
    assert confidence.on_track([None, 0.9, 0.5, None, 0.8]) == pytest.approx([None, 0.9, 0.45, None, 0.8])
    assert confidence.on_track([]) == []


def test_a_platt_map_fitted_on_known_odds_finds_them():
    # values whose raw probability p is right with probability sigmoid(0.5 * logit(p) + 1)
    import random

    rng = random.Random(0)
    xs = [confidence.value_features(math.log(rng.uniform(0.001, 0.999))) for _ in range(20000)]
    truth = confidence.Logistic(("logit",), (0.5,), 1.0)
    right = [rng.random() < truth(x) for x in xs]
    fitted = confidence.Logistic.fit(("logit",), xs, right)
    assert fitted.weights[0] == pytest.approx(0.5, abs=0.05) and fitted.bias == pytest.approx(1.0, abs=0.08)
    cal = confidence.Calibration(value=fitted)
    # monotone, finite at a probability of 1 (forced tokens) and near 0
    ps = [cal.value_confidence(lp) for lp in (0.0, math.log(0.9), math.log(0.1), -500.0)]
    assert 1.0 >= ps[0] > ps[1] > ps[2] > ps[3] > 0.0


def test_a_frame_map_reads_the_frame_s_parts_and_survives_a_round_trip(tmp_path):
    lps = [math.log(0.5), math.log(0.8), math.log(0.25), 0.0]  # event, one locals token, source, end
    parts = {"event": (0, 1), "locals": (1, 2), "source": (2, 3), "end": (3, 4)}
    assert confidence.RAW.frame_confidence(lps, parts) == pytest.approx(0.1)  # the whole frame
    x = confidence.frame_features({"event": lps[:1], "locals": lps[1:2], "source": lps[2:3], "end": lps[3:]})
    assert x["state_mean"] == pytest.approx(math.log(0.4) / 2) and x["state_min"] == pytest.approx(math.log(0.5))
    assert x["logit_product"] == pytest.approx(math.log(0.1 / 0.9)) and x["returns"] == x["first"] == 0.0
    frame = confidence.Logistic(("state_min", "returns"), (2.0, -1.0), 0.5)
    cal = confidence.Calibration(frame, confidence.Logistic(("logit",), (1.0,), 0.5))
    assert cal.frame_confidence(lps, parts) == pytest.approx(1 / (1 + math.exp(-(0.5 + 2 * math.log(0.5)))))
    cal.save(str(tmp_path / confidence.CALIBRATION_FILE))
    assert confidence.Calibration.load(str(tmp_path)) == cal
    assert confidence.Calibration.load(str(tmp_path / "nothing")) is confidence.RAW


def test_a_value_takes_the_tokens_that_write_it():
    from neurodebug.backends import bundled_model, make_predictor

    if bundled_model() is None:
        pytest.skip("the bundled model is not installed")
    tok = make_predictor(None).tokenizer
    ids = tok.encode('{"a": "1", "b": "..", "c": "\'xy\'"}')
    text = [tok.decode([t]) for t in ids]
    lps = [-1.0 if "x" in piece else 0.0 for piece in text]  # only c's value has an x
    assert -1.0 in lps
    got = confidence.values_confidence(tok.decode, ids, lps, "min")
    assert set(got) == {"a", "c"}  # "b" is not written in full
    assert got["c"] == pytest.approx(math.exp(-1.0)) and got["a"] == pytest.approx(1.0)
    # a frame cut off inside its locals: the values before the cut
    cut = tok.encode('{"a": "1", "c": "\'x')
    assert set(confidence.values_confidence(tok.decode, cut, [0.0] * len(cut))) == {"a"}


@pytest.fixture(scope="module")
def bundled():
    from neurodebug.backends import bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model is not installed")


def test_predict_json_carries_confidence_on_every_predicted_frame(bundled, capsys):
    assert main(["predict", str(EXAMPLES / "count_char.py"), "--call", "count('strawberry', 'r')", "--json"]) == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    assert frames[0]["event"] == "call" and "confidence" not in frames[0]  # forced: none
    assert len(frames) > 5
    for f in frames[1:]:
        assert 0.0 < f["confidence"] <= 1.0
        values = f.get("locals_confidence")
        if f["event"] == "line":
            assert set(values) <= set(f["locals"]) and all(0.0 < v <= 1.0 for v in values.values())
        else:
            assert values is None
    # a value is written in full where it changed: the loop variable, most steps
    assert sum("ch" in f.get("locals_confidence", {}) for f in frames) >= 5


def test_eval_frames_out_and_calibration(bundled, tmp_path, capsys):
    out, png = tmp_path / "frames.jsonl", tmp_path / "reliability.png"
    assert main(["eval", str(SUITES / "synthetic_heldout.jsonl"), "--limit", "2", "--json", "--threads", "1",
                 "--frames-out", str(out), "--plot", str(png)]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["mode"] for r in rows} == {"free-running", "teacher-forced"}
    for r in rows:
        assert set(r) == {"record", "mode", "step", "confidence", "state_match", "action_match"}
        assert r["step"] >= 1 and isinstance(r["state_match"], bool)
    tf = [r for r in rows if r["mode"] == "teacher-forced"]
    assert len(tf) == summary["real_frames"] - 2 * 1  # every real frame after each record's call
    assert all(r["confidence"] is not None for r in tf)
    # the summary's numbers are those of the lines
    for mode, c in summary["model"]["calibration"].items():
        mine = [r for r in rows if r["mode"] == mode]
        want = confidence.calibration([r["confidence"] for r in mine], [r["state_match"] for r in mine])
        assert c["frames"] == want["frames"] == len(mine) and c["bins"] == want["bins"]
        assert (c["auroc_state_wrong"], c["ece"]) == (want["auroc_state_wrong"], want["ece"])
        assert (c["sure_frames"], c["sure_right"]) == (want["sure_frames"], want["sure_right"])
    free = summary["model"]["calibration"]["free-running"]
    assert free["unsure_below"] == 0.5 and free["diverging_records"] <= 2
    # on track: each free-running frame's product of the confidences of its trace so far
    mine = sorted((r for r in rows if r["mode"] == "free-running"), key=lambda r: (r["record"], r["step"]))
    products = [p for rec in dict.fromkeys(r["record"] for r in mine)
                for p in confidence.on_track([r["confidence"] for r in mine if r["record"] == rec])]
    want = confidence.calibration(products, [r["state_match"] for r in mine])
    assert free["on_track"]["frames"] == len(mine) and free["on_track"]["bins"] == want["bins"]
    share = sum(r["state_match"] for r in tf) / len(tf)
    assert summary["model"]["teacher_forced"]["state_exact"] == pytest.approx(share)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def served(bundled):
    """`neurodebug serve` of the bundled model on 127.0.0.1 (vLLM's and Meta's contracts)."""
    from neurodebug.backends import make_predictor
    from neurodebug.serve.server import make_server

    srv = make_server(make_predictor(None), "127.0.0.1", 0)
    srv.start()
    yield srv.url
    srv.shutdown()
    srv.server_close()


def predicted(options, frames: int = 25, raw: bool = False):
    """count_char's predicted frames; ``raw``: the model's own probabilities, without its map."""
    from neurodebug.session import Session

    predictor = options.make_predictor()
    if raw:
        predictor.calibration = confidence.RAW
    s = Session((EXAMPLES / "count_char.py").read_text(), "count", "'strawberry', 'r'", options,
                predictor=predictor).start()
    s.cont(max_frames=frames)
    return s.frames


def test_the_frame_after_the_call_is_marked_first_in_both_modes(bundled):
    """The map's ``first`` feature is the frame right after the call frame, in a free-running
    session and in teacher-forced scoring alike (the map is fitted on the second, used in both)."""
    from neurodebug import compare
    from neurodebug.options import SessionOptions
    from neurodebug.session import Session

    sure = confidence.Logistic(("logit",), (0.0,), 20.0)  # every value: about 1
    cal = confidence.Calibration(confidence.Logistic(("first",), (10.0,), -5.0), sure)
    high, low = 1 / (1 + math.exp(-5.0)), 1 / (1 + math.exp(5.0))
    predictor = SessionOptions(run_real=True).make_predictor()
    predictor.calibration = cal
    s = Session((EXAMPLES / "count_char.py").read_text(), "count", "'strawberry', 'r'", SessionOptions(run_real=True),
                predictor=predictor).start()
    s.cont(max_frames=6)
    assert [f.confidence for f in s.frames[1:6]] == pytest.approx([high] + [low] * 4)
    tf = compare.teacher_forced(s.real, predictor, s.codec, confidence=True, constraint=s.frame_constraint,
                                parser=s.new_parser())
    scored = [f.confidence for f in tf.frames[compare.SCORE_FROM:compare.SCORE_FROM + 5]]
    assert scored == pytest.approx([high] + [low] * 4)


def test_http_confidence_is_the_local_one_from_the_servers_logprobs(served):
    """Over vLLM's contract the confidence comes from the reply's logprobs (the top 20, the rest
    of the allowed mass bounded): the local backend's within 1e-3 per token wherever those fix it,
    and, where they cannot, from the unnamed allowed tokens' logprobs asked for (every frame; the
    20th frame's token has 732 unnamed). The raw probabilities are
    compared: the model's calibration map is the same function of them on both sides, and can
    stretch a difference of 1e-4 near 1."""
    from neurodebug.options import SessionOptions

    local = predicted(SessionOptions(run_real=False), raw=True)
    http = predicted(SessionOptions(run_real=False, backend="http", url=served + "/v1"), raw=True)
    assert [(f.line, f.locals) for f in http] == [(f.line, f.locals) for f in local]
    assert http[0].confidence is None
    known = [(a, b) for a, b in zip(local[1:], http[1:]) if b.confidence is not None]
    assert len(known) >= len(local) - 2
    for a, b in known:
        assert b.confidence == pytest.approx(a.confidence, abs=1e-3)
        assert (b.locals_confidence or {}).keys() == (a.locals_confidence or {}).keys()
        for name, v in (a.locals_confidence or {}).items():
            assert b.locals_confidence[name] == pytest.approx(v, abs=1e-3)


def test_over_http_a_repaired_frame_has_the_local_confidence(served):
    """HumanEval/1, whose frames the constraints repair: from the top 20 logprobs alone none of
    its first 10 frames had a confidence over vLLM's contract against neurodebug serve; asking
    for the few allowed tokens they leave unnamed gives nearly all of them one, each the local
    backend's within 1e-3."""
    from neurodebug.options import SessionOptions
    from tests.sessions import repaired_record_frames

    local, http = (repaired_record_frames(options.make_predictor()) for options in
                   (SessionOptions(run_real=False), SessionOptions(run_real=False, backend="http", url=served + "/v1")))
    assert [(f.line, f.locals) for f in http] == [(f.line, f.locals) for f in local]
    known = [(a, b) for a, b in zip(local, http) if b.confidence is not None]
    assert len(known) >= len(local) - 2
    for a, b in known:
        assert b.confidence == pytest.approx(a.confidence, abs=1e-3)


def test_a_server_without_logprobs_says_so_once(served, capsys):
    from neurodebug.options import SessionOptions

    frames = predicted(SessionOptions(run_real=False, backend="http", url=served, constrain=False), frames=4)
    assert len(frames) > 2 and all(f.confidence is None and f.locals_confidence is None for f in frames)
    err = capsys.readouterr().err
    assert err.count("gives no log-probabilities") == 1 and err.count("\n") == 1


def test_renormalised_by_hand():
    top = {1: math.log(0.5), 2: math.log(0.3), 3: math.log(0.1), 4: math.log(0.0999)}
    assert confidence.renormalised(2, math.log(0.3), top, None) == pytest.approx(math.log(0.3))
    # every allowed token named: exact
    assert confidence.renormalised(2, math.log(0.3), top, {2, 3}) == pytest.approx(math.log(0.3 / 0.4))
    assert confidence.renormalised(2, math.log(0.3), top, {2, 3}, temperature=2.0) == \
        pytest.approx(math.log(0.3 ** 0.5 / (0.3 ** 0.5 + 0.1 ** 0.5)))
    # allowed 9 is not named: it weighs at most what the named leave of 1 (0.0001); half of it is taken
    assert confidence.renormalised(2, math.log(0.3), top, {2, 3, 9}) == pytest.approx(math.log(0.3 / 0.40005))
    # a repaired token: the allowed alternatives could outweigh it, nothing fixes it
    top = {7: math.log(0.98), 8: math.log(0.01), 2: math.log(0.001)}
    assert confidence.renormalised(2, math.log(0.001), top, {2, 5, 6}) is None


def test_a_token_the_top_ones_cannot_score_is_scored_from_each_allowed_tokens_logprob():
    """The http backend asks for the log-probabilities of the allowed tokens the server's top ones
    did not name (up to a limit: ``EXACT_UNNAMED``, what one request may name), after the same ids;
    then the renormalisation over the allowed set is exact. Past the limit it leaves the token
    unscored."""
    from neurodebug.backends.http import _Scores

    scores = _Scores(0.0)
    top = {7: math.log(0.98), 8: math.log(0.01), 2: math.log(0.001)}
    scores.reply([2, 3], [(math.log(0.001), top), (math.log(0.5), {3: math.log(0.5)})])
    scores.keep([frozenset({2, 5, 6}), frozenset(range(100, 104))], prefix=[40, 41])
    assert scores.kept == [None, None]
    asked = []

    def logprobs_of(ids, tokens):
        asked.append((list(ids), tokens))
        return {t: math.log(0.002) for t in tokens}

    scores.resolve(logprobs_of, 3)
    assert asked == [([40, 41], [5, 6])]  # the second token: 4 unnamed, over the limit, none asked
    assert scores.kept[0] == pytest.approx(math.log(0.001 / 0.005)) and scores.kept[1] is None

    # a token the bound fixes within 1e-3 but not 1e-4 keeps that estimate until it is asked
    top = {1: math.log(0.5), 2: math.log(0.3), 3: math.log(0.1), 4: math.log(0.0999)}
    for limit, want in ((0, 0.3 / 0.40005), (1, 0.3 / 0.402)):
        scores = _Scores(0.0)
        scores.reply([2], [(math.log(0.3), top)])
        scores.keep([frozenset({2, 3, 9})], prefix=[7])
        assert scores.kept[0] == pytest.approx(math.log(0.3 / 0.40005))
        asked.clear()
        scores.resolve(logprobs_of, limit)
        assert asked == ([([7], [9])] if limit else []) and scores.kept[0] == pytest.approx(math.log(want))


def test_over_http_the_unnamed_allowed_tokens_are_named_many_to_a_request(served, monkeypatch):
    """Against neurodebug serve, which answers vLLM's logprob_token_ids from the local model: 300
    tokens' log-probabilities come in 3 requests (128 to a request), each the local model's. A
    server that refuses the field (here: more tokens to a request than it takes) is then asked
    one token per request, for at most 16 of them."""
    from neurodebug.backends import http
    from neurodebug.options import SessionOptions

    local = SessionOptions(run_real=False).make_predictor()
    ids = local.tokenizer.encode("def f(x):\n    return x + 1\n")
    _, steps = local.open(ids).generate_logprobs(1, 0, token_ids=list(range(300)))
    want = dict(steps[0][1])
    remote = SessionOptions(run_real=False, backend="http", url=served + "/v1").make_predictor()
    before = remote.client.requests
    got = remote.logprobs_of(ids, list(range(300)))
    assert remote.client.requests - before == 3 and remote.names_tokens
    assert got.keys() == want.keys() and all(got[t] == pytest.approx(want[t], abs=1e-4) for t in want)

    monkeypatch.setattr(http, "NAMED_PER_REQUEST", 129)  # the server takes at most 128: a 400
    assert remote.logprobs_of(ids, list(range(129))) is None and not remote.names_tokens
    before = remote.client.requests
    few = remote.logprobs_of(ids, [5, 6])
    assert remote.client.requests - before == 2 and few == pytest.approx({5: want[5], 6: want[6]}, abs=1e-4)
    assert remote.logprobs_of(ids, list(range(http.EXACT_UNNAMED_ONE_BY_ONE + 1))) is None


def test_predict_and_compare_mark_the_values_the_model_was_unsure_of(bundled, capsys):
    """A '?' after a frame's line and after each value whose confidence is under --unsure-below;
    none at 0, and none on the forced call frame."""
    call = ["--call", "count('strawberry', 'r')"]
    assert main(["predict", str(EXAMPLES / "count_char.py"), *call, "--json"]) == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    below = sorted(f["confidence"] for f in frames[1:])[len(frames) // 2]  # about half are under it
    assert main(["predict", str(EXAMPLES / "count_char.py"), *call, "--unsure-below", str(below)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert len(lines) == len(frames) and "?" not in lines[0]
    for line, f in zip(lines[1:], frames[1:]):
        where = line.split()[2]
        assert where.endswith("?") == (f["confidence"] < below), line
        for name, c in f.get("locals_confidence", {}).items():
            assert (f"{name}={f['locals'][name]}?" in line) == (c < below), line
    assert main(["predict", str(EXAMPLES / "count_char.py"), *call, "--unsure-below", "0"]) == 0
    assert "?" not in capsys.readouterr().out
    for threshold, marked in (("1", True), ("0", False)):
        assert main(["compare", str(EXAMPLES / "count_char.py"), *call, "--unsure-below", threshold,
                     "--width", "200"]) == 0
        assert ("?" in capsys.readouterr().out) == marked

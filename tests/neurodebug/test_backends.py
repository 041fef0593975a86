"""Backends: make_predictor's errors, the http backend against `neurodebug serve` in both
contracts (and against servers that are down, slow or speak nonsense), transformers vs local."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from neurodebug import backends
from neurodebug.backends import make_predictor, resolve_model
from neurodebug.backends.http import HttpPredictor, parse_url
from neurodebug.codec import Codec
from neurodebug.compare import teacher_forced
from neurodebug.errors import UserError
from neurodebug.real.tracer import trace_source
from neurodebug.serve.server import make_server
from neurodebug.session import Session
from tests.neurodebug.scripted import ScriptedPredictor
from tests.programs import WORKED_EXAMPLE
from tests.sessions import started

SOURCE = WORKED_EXAMPLE


@pytest.fixture(scope="module")
def real():
    return trace_source(SOURCE, "f", "1")


@pytest.fixture(scope="module")
def served(local, real):
    codec = Codec(local.tokenizer)
    ids = codec.encode_trace(real)[0]
    srv = make_server(ScriptedPredictor(local, [ids]), "127.0.0.1", 0)
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def same(a, b):
    return (a.event, a.line, a.locals, a.arg, a.depth) == (b.event, b.line, b.locals, b.arg, b.depth)


# -- make_predictor ------------------------------------------------------------------------------


def test_missing_bundled_model_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setattr(backends, "BUNDLED_DIR", tmp_path / "bundled")
    with pytest.raises(UserError, match="bundled model is not installed; pass --model PATH"):
        make_predictor(None)


def test_bad_model_and_backend_arguments(tmp_path):
    with pytest.raises(UserError, match="no model at"):
        resolve_model(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="not a model checkpoint"):
        resolve_model(str(tmp_path))
    with pytest.raises(UserError, match="Unknown backend"):
        make_predictor(str(tmp_path), backend="onnx")
    with pytest.raises(UserError, match="needs --url"):
        make_predictor(None, backend="http")
    with pytest.raises(UserError, match="only applies"):
        make_predictor(str(tmp_path), url="http://127.0.0.1:1")


def test_parse_url_picks_the_contract():
    assert parse_url("http://h:5678") == ("http://h:5678/completions", "meta")
    assert parse_url("h:5678/completions") == ("http://h:5678/completions", "meta")
    assert parse_url("http://h:8000/v1") == ("http://h:8000/v1/completions", "vllm")
    assert parse_url("http://h:8000/v1/completions") == ("http://h:8000/v1/completions", "vllm")
    with pytest.raises(UserError):
        parse_url("ftp://h")


def test_local_backend_loads_a_checkpoint(cwm_checkpoint):
    p = make_predictor(str(cwm_checkpoint))
    st = p.open([p.tokenizer.bos_id, 5, 6])
    assert len(st) == 3 and st.tokens_computed == 3
    new = st.generate(4)
    assert len(new) == 4 and len(st) == 7


# -- http backend against neurodebug serve --------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/v1"])
def test_http_session_in_both_contracts(served, local, real, suffix):
    p = HttpPredictor(served.url + suffix, local.tokenizer)
    s = started(SOURCE, "f", "1", p)
    s.cont()
    assert s.ended and len(s.frames) == len(real.frames)
    assert all(same(a, b) for a, b in zip(s.frames, real.frames))
    assert s.comparison().first_divergence is None
    s.back()
    assert not s.ended and len(s.state) == s._starts[-1] + len(s._frame_ids[-1])
    assert p.client.requests >= len(real.frames)


def test_http_teacher_forcing_over_vllm_prompt_logprobs(served, local, real):
    p = HttpPredictor(served.url + "/v1", local.tokenizer)
    codec = Codec(local.tokenizer)
    tf = teacher_forced(real, p, codec)
    assert all(tf.ok) and tf.end_ok and tf.metrics.state_exact == 1.0
    ids = codec.encode_trace(real)[0]
    assert p.greedy_argmax(ids[:30]) == served.engine.predictor.greedy_argmax(ids[:30])
    with pytest.raises(UserError, match="does not return"):
        HttpPredictor(served.url, local.tokenizer).greedy_argmax(ids)


def test_a_trace_past_the_context_is_scored_alike_over_vllm_and_locally(local, real):
    """The server's context comes from GET /v1/models (max_model_len): a trace longer than it is
    scored up to it and its later frames counted wrong, as the local backend does, instead of the
    server refusing the prompt; free-running predictions stop at the same token."""
    codec = Codec(local.tokenizer)
    ids, spans = codec.encode_trace(real, close=True)
    n = len(real.frames)
    limit = spans[n // 2][1]  # the frames up to the middle one fit
    short = ScriptedPredictor(local, [ids])  # it predicts the real trace: every frame that fits is right
    short.context_limit = limit
    srv = make_server(short, "127.0.0.1", 0)
    srv.start()
    try:
        http = HttpPredictor(srv.url + "/v1", local.tokenizer)
        assert http.context_limit == limit and HttpPredictor(srv.url, local.tokenizer).context_limit is None
        here, there = (teacher_forced(real, p, codec) for p in (short, http))
        assert [sc.to_dict() for sc in there.frames] == [sc.to_dict() for sc in here.frames]
        assert there.metrics == here.metrics and there.end_ok is here.end_ok is None
        fits = [e < limit for _, e in spans[:n]]
        assert here.ok == fits and [sc.past_context for sc in here.frames] == [not f for f in fits]
        assert here.metrics.state_exact == (sum(fits) - 1) / (n - 1)  # the call frame is not scored
        assert here.first_divergence.step == fits.index(False)
        assert "runs past the model's context" in here.first_divergence.message
        sessions = [started(SOURCE, "f", "1", p, run_real=False, constrain=False) for p in (short, http)]
        for s in sessions:
            s.cont()
        assert sessions[1].state.ids == sessions[0].state.ids and len(sessions[0].state.ids) < limit
        assert sessions[1].end == sessions[0].end and sessions[0].end.reason == "token_cap"
    finally:
        srv.shutdown()
        srv.server_close()


def test_constrained_decoding_over_vllm_repairs_to_the_local_result(local):
    """The tiny random model writes nonsense, so most of its frames need repairs: over vLLM's
    contract the http backend still predicts exactly what the local backend predicts."""
    from neurodebug.backends.local import LocalPredictor

    srv = make_server(LocalPredictor.from_runtime(local.model), "127.0.0.1", 0)
    srv.start()
    try:
        http = HttpPredictor(srv.url + "/v1", local.tokenizer)
        a = started(SOURCE, "f", "1", local, max_frame_tokens=40, max_frames=4, run_real=False)
        b = started(SOURCE, "f", "1", http, max_frame_tokens=40, max_frames=4, run_real=False)
        for s in (a, b):
            s.step(), s.step(), s.step()
        assert b.constrained and a._frame_ids == b._frame_ids and a.state.ids == b.state.ids
        assert b.state.repairs > 3
        # sampling is repaired too (a draw among the allowed tokens), reproducibly from the seed
        sampled = []
        for _ in range(2):
            c = started(SOURCE, "f", "1", http, max_frame_tokens=40, max_frames=4, run_real=False, temperature=1.0,
                        seed=3)
            c.step(), c.step()
            sampled.append((c._frame_ids, c.state.repairs))
        assert sampled[0] == sampled[1] and sampled[0][1] > 0
        # Meta's contract cannot restrict a token: the session says it is unconstrained
        m = started(SOURCE, "f", "1", HttpPredictor(srv.url, local.tokenizer), max_frame_tokens=40, max_frames=4,
                    run_real=False)
        assert not m.constrained
        m.step()
    finally:
        srv.shutdown()
        srv.server_close()


def test_forced_tokens_go_into_the_next_request_over_vllm(local, monkeypatch):
    """Where the constraint allows one token, the http backend appends it without a request:
    the same frames as asking the server for it, in fewer requests (counted as forwards)."""
    from neurodebug.backends import http as http_backend
    from neurodebug.backends.local import LocalPredictor

    srv = make_server(LocalPredictor.from_runtime(local.model), "127.0.0.1", 0)
    srv.start()
    try:
        runs = []
        for jump in (True, False):
            if not jump:
                monkeypatch.setattr(http_backend, "forced_run", lambda *a, **k: [])
            http = HttpPredictor(srv.url + "/v1", local.tokenizer)
            s = started(SOURCE, "f", "1", http, max_frame_tokens=40, max_frames=4, run_real=False)
            s.step(), s.step(), s.step()
            assert s.state.forwards == http.client.requests and s.speed.forwards == s.state.forwards
            runs.append((s._frame_ids, http.client.requests))
        (with_jump, n_jump), (without, n_without) = runs
        assert with_jump == without and n_jump < n_without
    finally:
        srv.shutdown()
        srv.server_close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_is_one_sentence(local):
    p = HttpPredictor(f"http://127.0.0.1:{_free_port()}", local.tokenizer, timeout=5)
    with pytest.raises(UserError, match="Cannot reach the model server .* is it running"):
        p.open([1, 2]).generate(3, stop_ids=[7])


class _Odd(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        mode = self.server.mode
        self.server.seen.append(dict(self.headers))
        if mode == "slow":
            time.sleep(1.5)
        if mode == "hangup":  # a server that stops mid-request
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "busy" and len(self.server.seen) <= 2:  # 429, then 503, then an answer
            self.send_response(429 if len(self.server.seen) == 1 else 503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        data = {"garbage": b"<html>nope</html>", "nochoices": b'{"id": 1}', "notokens": b'{"choices": [{"text": "x"}]}',
                "ignores": b'{"choices": [{"text": "x", "token_ids": [5]}]}',
                "error": b'{"error": {"message": "model overloaded"}}', "slow": b"{}",
                "busy": b'{"choices": [{"text": "x", "token_ids": [5, 7]}]}'}[mode]
        self.send_response(503 if mode == "error" else 200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:  # the client timed out first (mode "slow")
            pass


@pytest.fixture
def odd():
    """A server that answers POSTs badly in the way its ``mode`` says; ``seen`` holds each request's headers."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    srv.daemon_threads = True
    srv.seen = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("mode,match", [
    ("garbage", "not JSON"),
    ("nochoices", "without choices"),
    ("notokens", "choices\\[0\\].tokens"),
    ("error", "refused the request after 2 retries \\(HTTP 503: model overloaded\\)"),
    ("slow", "did not answer within 0.5 s"),
    ("hangup", "closed the connection before it answered"),
])
def test_unexpected_replies_are_one_sentence(local, odd, mode, match):
    odd.mode = mode
    p = HttpPredictor(f"http://127.0.0.1:{odd.server_address[1]}", local.tokenizer, timeout=0.5, retries=2, backoff=0.01)
    with pytest.raises(UserError, match=match):
        p.open([1, 2]).generate(3)
    assert len(odd.seen) == (3 if mode == "error" else 1)  # only a busy server is asked again


def test_a_busy_server_is_asked_again_with_the_key_and_model_name(local, odd):
    odd.mode = "busy"
    p = HttpPredictor(f"http://127.0.0.1:{odd.server_address[1]}/v1", local.tokenizer, timeout=5, backoff=0.01,
                      api_key="sesame", model_name="cwm")
    assert p.open([1, 2]).generate(3, stop_ids=[7]) == [5, 7]
    assert len(odd.seen) == 3 and all(h["Authorization"] == "Bearer sesame" for h in odd.seen)


def test_api_key_and_served_model_name_against_serve(local, monkeypatch):
    srv = make_server(local, "127.0.0.1", 0, model_name="tiny-cwm", api_key="sesame")
    srv.start()
    try:
        url = srv.url + "/v1"
        monkeypatch.delenv("NEURODEBUG_API_KEY", raising=False)
        monkeypatch.delenv("NEURODEBUG_SERVED_MODEL_NAME", raising=False)
        with pytest.raises(UserError, match="HTTP 401.*pass --api-key or set NEURODEBUG_API_KEY"):
            make_predictor(None, backend="http", url=url).open([1, 2]).generate(2)
        with pytest.raises(UserError, match="HTTP 404: The model `other` does not exist"):
            make_predictor(None, backend="http", url=url, api_key="sesame", model_name="other").open([1, 2]).generate(2)
        monkeypatch.setenv("NEURODEBUG_API_KEY", "sesame")
        monkeypatch.setenv("NEURODEBUG_SERVED_MODEL_NAME", "tiny-cwm")
        assert len(make_predictor(None, backend="http", url=url).open([1, 2]).generate(2)) == 2
    finally:
        srv.shutdown()
        srv.server_close()


class _Only:
    def __init__(self, ids):
        self.ids = ids

    def allowed(self, generated):
        return self.ids


def test_a_server_that_ignores_allowed_token_ids_is_one_sentence(local, odd):
    odd.mode = "ignores"
    p = HttpPredictor(f"http://127.0.0.1:{odd.server_address[1]}/v1", local.tokenizer, timeout=5)
    with pytest.raises(UserError, match="ignored allowed_token_ids .* --no-constrain"):
        p.open([1, 2]).generate(3, constraint=_Only([6, 7]))
    assert p.open([1, 2]).generate(3, constraint=_Only([5, 7])) == [5]
    # one allowed token is forced without asking the server (jump-forward)
    before = p.client.requests
    assert p.open([1, 2]).generate(3, constraint=_Only([6])) == [6, 6, 6] and p.client.requests == before


# -- transformers backend: the reference ----------------------------------------------------------


def test_transformers_backend_matches_local_greedy(cwm_checkpoint, local):
    hf = make_predictor(str(cwm_checkpoint), backend="transformers")
    codec = Codec(local.tokenizer)
    prompt = codec.prompt_ids(SOURCE, "f")[:40]
    a, b = local.open(prompt), hf.open(prompt)
    assert a.generate(6) == b.generate(6)
    # step back and generate again: both agree after a truncate
    a.truncate(42), b.truncate(42)
    assert a.generate(3) == b.generate(3)
    assert hf.greedy_argmax(prompt) == local.greedy_argmax(prompt)


def test_sessions_on_transformers_and_local_predict_the_same_frames(cwm_checkpoint, local):
    hf = make_predictor(str(cwm_checkpoint), backend="transformers")
    a = started(SOURCE, "f", "1", local, max_frame_tokens=5, max_frames=4)
    b = started(SOURCE, "f", "1", hf, max_frame_tokens=5, max_frames=4)
    for s in (a, b):
        s.step(), s.step()
    assert a._frame_ids == b._frame_ids and len(a.state) == len(b.state)
    for s in (a, b):
        s.back()
        s.step()
    assert a._frame_ids == b._frame_ids and a.state.ids == b.state.ids
    # the same confidence from transformers' logits as from the runtime's
    got = [(f.confidence, f.locals_confidence) for f in b.frames]
    assert got[0] == (None, None) and all(c is not None for c, _ in got[1:])
    assert [c for c, _ in got] == pytest.approx([f.confidence for f in a.frames], abs=1e-4)
    assert [v for _, v in got] == [pytest.approx(f.locals_confidence, abs=1e-4) if f.locals_confidence else
                                   f.locals_confidence for f in a.frames]


def test_http_reads_the_tokenizer_of_a_repo_id_in_the_hf_cache(tmp_path, monkeypatch):
    """`--backend http --model facebook/cwm`: CWM's config.json in the local cache is enough to
    build CWM's prompts (its vocabulary is Llama 3's with CWM's specials)."""
    import shutil
    from pathlib import Path

    snap = tmp_path / "hub" / "models--facebook--cwm" / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    shutil.copy(Path(__file__).parents[1] / "data" / "cwm_config.json", snap / "config.json")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    p = make_predictor("facebook/cwm", backend="http", url="http://127.0.0.1:1/v1")
    assert p.tokenizer.vocab_size == 128_256 and p.tokenizer.special_id("<|frame_sep|>") >= 128_000
    with pytest.raises(UserError, match="not in the local Hugging Face cache"):
        make_predictor("facebook/other", backend="http", url="http://127.0.0.1:1/v1")

"""`neurodebug serve` on 127.0.0.1: Meta's /completions as cwmdbg sends it, vLLM's /v1/completions,
errors that never kill the server, and KV prefix reuse.

The server runs the real tiny checkpoint, steered along the real trace (ScriptedPredictor), so
its replies are well-formed frames that Meta's client logic can parse.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import deque

import pytest

from neurodebug.backends.local import LocalPredictor
from neurodebug.codec import Codec
from neurodebug.real.tracer import trace_source
from neurodebug.serve.server import make_server
from tests.neurodebug.scripted import ScriptedPredictor

SOURCE = """\
def count_letters(s, letter):
    n = 0
    for c in s:
        n += int(c == letter)
    return n

def f(c):  # << START_OF_TRACE
    word = "strawberry"
    num = count_letters(word[:3], c)
    return num
"""


@pytest.fixture(scope="module")
def real():
    t = trace_source(SOURCE, "f", "'r'")
    assert t.return_value == "1"
    return t


@pytest.fixture(scope="module")
def server(cwm_model, real):
    local = LocalPredictor.from_runtime(cwm_model)
    codec = Codec(local.tokenizer)
    teacher = ScriptedPredictor(local, [codec.encode_trace(real)[0]])
    srv = make_server(teacher, "127.0.0.1", 0)
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def post(url, body, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


class MetaClient:
    """The request building and reply parsing of Meta's demos/cwmdbg.py (CWMDebugger._step), restated."""

    START = "  # << START_OF_TRACE"

    def __init__(self, source, tok, url):
        self.source, self.tok, self.url = source, tok, url
        self.sid = tok.special_id
        self.source_lines = [ln.rstrip(self.START) for ln in source.splitlines()]
        self.frames = []  # (event, source_line, local_vars, arg, line_no, tokens)
        self.final = False
        self.requests = []

    def event_token(self, ev):
        return self.sid({"call": "<|call_sep|>", "return": "<|return_sep|>", "line": "<|line_sep|>",
                         "exception": "<|exception_sep|>"}[ev])

    def step(self, event=None):
        tok = self.tok
        tokens = [tok.bos_id, self.sid("<|trace_context_start|>")] + tok.encode(self.source) + [self.sid("<|frame_sep|>")]
        for ev, src, lv, arg, _, _ in self.frames:
            t = [self.event_token(ev)]
            if ev in ("call", "line"):
                t += tok.encode(json.dumps(lv))
            t += [self.sid("<|action_sep|>")] + tok.encode(src)
            if ev in ("return", "exception"):
                t += [self.sid("<|arg_sep|>")] + tok.encode(json.dumps(arg))
            tokens += t + [self.sid("<|frame_sep|>")]
        if event is not None:
            tokens.append(self.event_token(event))
        body = {"prompt": tokens, "max_tokens": 2048, "temperature": 0.6, "top_p": 0.95, "stop": "<|frame_sep|>"}
        self.requests.append(tokens)
        status, rep = post(self.url + "/completions", body)
        assert status == 200, rep
        rep_tokens = deque(rep["choices"][0]["tokens"])
        if event is None:
            first = rep_tokens[0]
            event = next((ev for ev in ("call", "return", "line", "exception") if first == self.event_token(ev)), None)
            if event is None:
                assert first == tok.eos_id, "unexpected reply"
                self.final = True
                return
            rep_tokens.popleft()
        lv_toks = []
        while (t := rep_tokens.popleft()) != self.sid("<|action_sep|>"):
            lv_toks.append(t)
        src_toks = []
        while (t := rep_tokens.popleft()) not in (self.sid("<|frame_sep|>"), self.sid("<|arg_sep|>")):
            src_toks.append(t)
        arg_toks = []
        if t == self.sid("<|arg_sep|>"):
            while (t := rep_tokens.popleft()) != self.sid("<|frame_sep|>"):
                arg_toks.append(t)
        local_vars = json.loads(tok.decode(lv_toks)) if lv_toks else {}
        arg = json.loads(tok.decode(arg_toks)) if arg_toks else None
        src = tok.decode(src_toks)
        line_no = self.source_lines.index(src.rstrip("\n").rstrip(self.START)) + 1
        self.frames.append((event, src, local_vars, arg, line_no, list(rep["choices"][0]["tokens"])))


def test_meta_client_requests_and_parses_replies(server, real):
    tok = server.engine.predictor.tokenizer
    client = MetaClient(SOURCE, tok, server.url)
    stats0 = get(server.url + "/stats")
    client.step("call")  # cwmdbg's reset()
    assert client.frames[0][2] == {"c": "'r'"} and client.frames[0][4] == 7
    client.step("line")  # cwmdbg's step() after a call forces a line event
    client.step()
    # cwmdbg's next() over the call of count_letters: step, force RETURN, step
    assert client.frames[-1][0] == "line" and client.frames[-1][4] == 9
    client.step()
    assert client.frames[-1][0] == "call" and client.frames[-1][2] == {"s": "'str'", "letter": "'r'"}
    while not client.final:
        client.step()
    lines = [fr[4] for fr in client.frames]
    assert lines == [f.line for f in real.frames]
    assert client.frames[-1][0] == "return" and client.frames[-1][3] == "1"
    # the whole prompt was resent at every step; the server computed only what was new
    stats = get(server.url + "/stats")
    sent = stats["prompt_tokens"] - stats0["prompt_tokens"]
    computed = stats["prompt_tokens_computed"] - stats0["prompt_tokens_computed"]
    assert sent == sum(len(r) for r in client.requests)
    first = len(client.requests[0])
    assert computed <= first + 2 * len(client.requests)  # each later request: about one new token
    assert stats["prompt_tokens_reused"] - stats0["prompt_tokens_reused"] == sent - computed


def test_prefix_reuse_counts_exactly(server, real):
    codec = Codec(server.engine.predictor.tokenizer)
    ids = codec.encode_trace(real)[0]
    s0 = get(server.url + "/stats")
    post(server.url + "/completions", {"prompt": ids[:60], "max_tokens": 3, "temperature": 0})
    s1 = get(server.url + "/stats")
    post(server.url + "/completions", {"prompt": ids[:80], "max_tokens": 3, "temperature": 0})
    s2 = get(server.url + "/stats")
    # request 2 continues request 1's state (60 prompt + 3 generated, all on the script)
    assert s2["prompt_tokens_computed"] - s1["prompt_tokens_computed"] == 80 - 63
    assert s1["prompt_tokens_computed"] - s0["prompt_tokens_computed"] <= 60


def test_vllm_contract_with_token_ids(server, real):
    codec = Codec(server.engine.predictor.tokenizer)
    ids, spans = codec.encode_trace(real)
    s, e = spans[1]
    status, rep = post(server.url + "/v1/completions", {
        "model": "x", "prompt": ids[:s], "max_tokens": 100, "temperature": 0.0,
        "stop_token_ids": codec.stop_ids, "return_token_ids": True, "skip_special_tokens": False})
    assert status == 200 and rep["object"] == "text_completion"
    ch = rep["choices"][0]
    assert ch["token_ids"] == ids[s:e] and ch["finish_reason"] == "stop" and ch["stop_reason"] == codec.frame_sep_id
    assert ch["prompt_token_ids"] == ids[:s] and rep["usage"]["completion_tokens"] == e - s
    status, rep = post(server.url + "/v1/completions", {"prompt": ids[:20], "max_tokens": 1, "prompt_logprobs": 1})
    plp = rep["choices"][0]["prompt_logprobs"]
    assert status == 200 and plp[0] is None and len(plp) == 20
    assert all(str(ids[p]) in plp[p] for p in range(1, 20))
    assert all(any(v["rank"] == 1 for v in plp[p].values()) for p in range(1, 20))


@pytest.fixture(scope="module")
def plain(cwm_model):
    """The server over the tiny model itself (not steered): its logprobs are the model's."""
    srv = make_server(LocalPredictor.from_runtime(cwm_model), "127.0.0.1", 0)
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_vllm_logprobs_and_allowed_token_ids(plain, cwm_model, real):
    import torch

    codec = Codec(plain.engine.predictor.tokenizer)
    ids = codec.encode_trace(real)[0][:40]
    lp_model = torch.log_softmax(cwm_model.sequence().extend(ids, logits="last"), -1)
    ranked = torch.argsort(lp_model, descending=True).tolist()
    status, rep = post(plain.url + "/v1/completions", {
        "prompt": ids, "max_tokens": 3, "temperature": 0, "logprobs": 5, "return_tokens_as_token_ids": True,
        "return_token_ids": True, "ignore_eos": True})
    ch = rep["choices"][0]
    lp = ch["logprobs"]
    assert status == 200 and lp["tokens"] == [f"token_id:{t}" for t in ch["token_ids"]] and len(ch["token_ids"]) == 3
    assert len(lp["top_logprobs"]) == 3 and len(lp["top_logprobs"][0]) == 5
    top = sorted(lp["top_logprobs"][0].items(), key=lambda kv: -kv[1])
    assert [k for k, _ in top] == [f"token_id:{t}" for t in ranked[:5]]  # greedy: the chosen one is first
    assert abs(top[0][1] - float(lp_model[ranked[0]])) < 1e-4 and lp["token_logprobs"][0] == top[0][1]
    # without return_tokens_as_token_ids, tokens are their text (as vLLM writes them)
    status, rep = post(plain.url + "/v1/completions", {"prompt": ids, "max_tokens": 1, "temperature": 0, "logprobs": 1})
    assert rep["choices"][0]["logprobs"]["tokens"] == [codec.tokenizer.decode([ranked[0]])]
    # allowed_token_ids: the most likely of them, at temperature 0
    allowed = sorted(ranked[5:10])
    status, rep = post(plain.url + "/v1/completions", {
        "prompt": ids, "max_tokens": 1, "temperature": 0, "allowed_token_ids": allowed, "return_token_ids": True,
        "ignore_eos": True})
    assert status == 200 and rep["choices"][0]["token_ids"] == [ranked[5]]
    # ... and drawn among them at a temperature
    for seed in range(4):
        status, rep = post(plain.url + "/v1/completions", {
            "prompt": ids, "max_tokens": 2, "temperature": 1.0, "seed": seed, "allowed_token_ids": allowed,
            "return_token_ids": True, "ignore_eos": True})
        assert set(rep["choices"][0]["token_ids"]) <= set(allowed)
    # logprob_token_ids: each step's logprobs name those tokens instead of the top ones (vLLM 0.32)
    named = ranked[100:103] + ranked[:1]
    status, rep = post(plain.url + "/v1/completions", {
        "prompt": ids, "max_tokens": 1, "temperature": 0, "logprobs": 1, "logprob_token_ids": named,
        "return_tokens_as_token_ids": True, "return_token_ids": True, "ignore_eos": True})
    top = rep["choices"][0]["logprobs"]["top_logprobs"][0]
    assert status == 200 and top.keys() == {f"token_id:{t}" for t in named}
    assert all(abs(top[f"token_id:{t}"] - float(lp_model[t])) < 1e-4 for t in named)


@pytest.mark.parametrize("path,body,raw,status,word", [
    ("/v1/completions", {"prompt": [1, 2], "logprobs": 21}, None, 400, "logprobs: input should be less than or equal to 20"),
    ("/v1/completions", {"prompt": [1, 2], "allowed_token_ids": []}, None, 400, "allowed_token_ids"),
    ("/v1/completions", {"prompt": [1, 2], "allowed_token_ids": [10**9]}, None, 400, "allowed_token_ids"),
    ("/v1/completions", {"prompt": [1, 2], "echo": True}, None, 400, "echo"),
    ("/v1/completions", {"prompt": [1, 2], "logprob_token_ids": [3]}, None, 400, "needs logprobs"),
    ("/v1/completions", {"prompt": [1, 2], "logprobs": 1, "logprob_token_ids": list(range(129))}, None, 400,
     "logprob_token_ids"),
    ("/completions", None, b"{not json", 400, "not valid JSON"),
    ("/completions", {"prompt": [1, 2], "max_tokens": 2, "frobnicate": 1}, None, 400, "frobnicate"),
    ("/v1/completions", {"prompt": [1, 2], "wat": 1}, None, 400, "wat"),
    ("/completions", {"prompt": [1, "x"]}, None, 400, "token id"),
    ("/completions", {"prompt": [1, 2], "max_tokens": 0}, None, 400, "max_tokens"),
    ("/completions", {"prompt": [10**9]}, None, 400, "token id"),
    ("/v1/completions", {"prompt": [1, 2], "stream": True, "logprobs": 1}, None, 400, "not streamed"),
    ("/v1/completions", {"prompt": [1, 2], "temperature": True}, None, 400, "temperature: input should be a valid number"),
    ("/v1/completions", {"prompt": [[1], [2]]}, None, 400, "not a batch"),
    ("/v1/completions", {"prompt": [1, 2], "presence_penalty": 0.5}, None, 400, "presence_penalty is not supported"),
    ("/v1/completions", {"prompt": [1, 2], "stream_options": {"include_usage": 1}}, None, 400, "stream_options.include_usage"),
    ("/completions", None, b"[1, 2]", 400, "must be a JSON object"),
    ("/completions", {"max_tokens": 2}, None, 400, "prompt is required"),
    ("/nowhere", {"prompt": [1]}, None, 404, "no /nowhere"),
])
def test_bad_requests_get_a_json_error_and_the_server_lives(server, path, body, raw, status, word):
    code, rep = post(server.url + path, body, raw)
    assert code == status and word in rep["error"]["message"]
    assert get(server.url + "/health")["status"] == "ok"


def test_after_an_error_a_client_that_keeps_connections_asks_on_a_new_one(server):
    """An error closes its connection and says so (``Connection: close``), so a client that keeps
    connections alive (urllib3's pool, the http backend's) does not send its next request into
    the closed socket."""
    from neurodebug.backends.http import HttpClient
    from neurodebug.errors import UserError

    client = HttpClient(server.url + "/v1", retries=0)
    for _ in range(30):
        with pytest.raises(UserError, match="refused"):
            client.post({"prompt": [1, 2], "wat": 1})
        assert client.post({"prompt": [1, 2], "max_tokens": 1})["choices"]
    code, headers = request_headers(server.url + "/nowhere")
    assert code == 404 and headers.get("Connection") == "close"


def request_headers(url):
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def test_prompt_over_the_context_limit(server):
    p = server.engine.predictor
    old = p.context_limit
    p.context_limit = 50
    try:
        code, rep = post(server.url + "/completions", {"prompt": list(range(60)), "max_tokens": 4})
        assert code == 400 and "context limit is 50" in rep["error"]["message"]
        code, rep = post(server.url + "/completions", {"prompt": list(range(1, 48)), "max_tokens": 100, "temperature": 0})
        assert code == 200 and len(rep["choices"][0]["tokens"]) <= 3  # capped to the context
    finally:
        p.context_limit = old
    assert get(server.url + "/health")["status"] == "ok"


def test_the_openai_client_completes_and_streams(plain, real):
    """The official `openai` client, as vLLM users call it, against /v1: the streamed text is the
    plain reply's text, token by token."""
    openai = pytest.importorskip("openai")
    codec = Codec(plain.engine.predictor.tokenizer)
    ids = codec.encode_trace(real)[0][:40]
    client = openai.OpenAI(base_url=plain.url + "/v1", api_key="unused", max_retries=0)
    extra = {"return_token_ids": True, "ignore_eos": True, "skip_special_tokens": False}
    whole = client.completions.create(model="m", prompt=ids, max_tokens=12, temperature=0, extra_body=extra)
    assert whole.choices[0].finish_reason == "length" and whole.usage.completion_tokens == 12
    chunks = list(client.completions.create(model="m", prompt=ids, max_tokens=12, temperature=0, stream=True,
                                            stream_options={"include_usage": True}, extra_body=extra))
    pieces = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].text for c in pieces) == whole.choices[0].text
    streamed_ids = [t for c in pieces for t in (c.choices[0].model_extra.get("token_ids") or [])]
    assert streamed_ids == whole.choices[0].model_extra["token_ids"]
    assert pieces[-1].choices[0].finish_reason == "length" and chunks[-1].usage.completion_tokens == 12


def test_a_stream_with_a_bad_request_is_a_json_4xx(plain):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=plain.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="not a token id"):
        list(client.completions.create(model="m", prompt=[10**9], max_tokens=2, stream=True))


def request(url, method, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/v1/completions", "POST"), ("PUT", "/completions", "POST"), ("DELETE", "/v1/completions", "POST"),
    ("POST", "/health", "GET"), ("PATCH", "/v1/models", "GET"), ("BREW", "/completions", "POST"),
])
def test_a_wrong_method_is_a_405_with_allow(server, method, path, allow):
    code, headers, body = request(server.url + path, method, b"{}" if method != "GET" else None)
    assert code == 405 and headers["Allow"] == allow
    assert f"use {allow}" in json.loads(body)["error"]["message"]
    assert get(server.url + "/health")["status"] == "ok"


def test_a_malformed_request_line_is_a_4xx(server):
    import socket

    host, port = server.server_address[:2]
    for line in (b"GET /health HTTP/2.0\r\n\r\n", b"NONSENSE\r\n\r\n", b"GET /health HTTP/1.x\r\n\r\n"):
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(line)
            reply = b"".join(iter(lambda: s.recv(4096), b""))  # the server closes after an error
        status, body = reply.split(b"\r\n")[0], reply.split(b"\r\n\r\n", 1)[1]
        assert status.split()[1] == b"400", status
        assert json.loads(body)["error"]["message"].endswith("."), body
    assert get(server.url + "/health")["status"] == "ok"


def test_api_key_and_served_model_name_as_vllm_has_them(cwm_model):
    srv = make_server(LocalPredictor.from_runtime(cwm_model), "127.0.0.1", 0, model_name="tiny", api_key="sesame")
    srv.start()
    try:
        body = json.dumps({"prompt": [1, 2, 3], "max_tokens": 1}).encode()
        ok = {"Content-Type": "application/json", "Authorization": "Bearer sesame"}
        code, headers, raw = request(srv.url + "/v1/completions", "POST", body, {"Content-Type": "application/json"})
        assert code == 401 and "Authorization: Bearer" in json.loads(raw)["error"]["message"]
        assert request(srv.url + "/health", "GET")[0] == 200  # a health check needs no key
        assert request(srv.url + "/v1/completions", "POST", body, ok)[0] == 200
        code, _, raw = request(srv.url + "/v1/models", "GET", None, ok)
        assert code == 200 and json.loads(raw)["data"][0]["id"] == "tiny"
        wrong = json.dumps({"prompt": [1, 2, 3], "max_tokens": 1, "model": "other"}).encode()
        code, _, raw = request(srv.url + "/v1/completions", "POST", wrong, ok)
        assert code == 404 and json.loads(raw)["error"]["message"] == "The model `other` does not exist."
    finally:
        srv.shutdown()
        srv.server_close()

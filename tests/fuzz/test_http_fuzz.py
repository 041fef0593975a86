"""Malformed HTTP requests to `neurodebug serve` (a real server process on 127.0.0.1): each
gets an answer that is not a 5xx, and the server stays up.

Requests are written on a raw socket, so they can be anything a client could send that still
ends: any method and path, headers of any kind, bodies that are not JSON, JSON of the wrong
shape, and the two completion schemas with fields of any type. A Content-Length longer than
the body is left out: the server then rightly waits for the rest. How many: tests/fuzz/fuzzing.py
(1,000 in CI).
"""

from __future__ import annotations

import json
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.fuzzing import EXAMPLES, SERVER_FUZZ
from tests.fuzz.serve_process import ServeProcess

PATHS = ["/completions", "/v1/completions", "/v1/models", "/health", "/", "/v1", "/completions/", "/%00", "/v1/../x"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "get", ""]
FIELDS = ["prompt", "max_tokens", "temperature", "top_p", "seed", "stop", "stream", "logprobs", "echo", "n",
          "allowed_token_ids", "return_token_ids", "ignore_eos", "skip_special_tokens", "model", "stream_options",
          "presence_penalty", "repetition_penalty", "stop_token_ids", "include_stop_str_in_output"]

def _short_answers(body: dict) -> dict:
    """A body that happens to be valid asks for at most 2 tokens: the fuzz is about requests, not generation."""
    n = body.get("max_tokens", 2)
    return {**body, "max_tokens": min(n, 2)} if type(n) is int else body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=16)
    | st.lists(st.integers(-5, 1100), max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10)
completion_bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6).map(_short_answers)
bodies = st.one_of(
    completion_bodies.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)
header_names = st.sampled_from(["Content-Type", "Authorization", "Transfer-Encoding", "Expect", "X-Anything",
                                "Accept", "Connection"])
headers = st.lists(st.tuples(header_names, st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)),
                   max_size=3)


@pytest.fixture(scope="module")
def serve():
    s = ServeProcess()
    yield s
    s.stop()


def send(address, method: str, path: str, extra_headers, body: bytes) -> bytes:
    """One request on its own connection (Connection: close); the whole reply."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in extra_headers if k.lower() not in ("connection", "transfer-encoding", "expect")]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection(address, timeout=60) as s:
        s.sendall(data)
        return b"".join(iter(lambda: s.recv(65536), b""))


STATUSES: dict[int, int] = {}


@SERVER_FUZZ
@given(method=st.sampled_from(METHODS), path=st.sampled_from(PATHS) | st.text(max_size=12).map(lambda t: "/" + t),
       extra=headers, body=bodies)
def _fuzz(serve, method, path, extra, body):
    path = path.replace(" ", "%20").replace("\r", "").replace("\n", "")
    reply = send(serve.address, method, path, extra, body)
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/"), (method, path, body, reply[:200])
    status = int(status_line.split()[1])
    STATUSES[status] = STATUSES.get(status, 0) + 1
    assert status < 500, (method, path, extra, body, reply[:500])


def test_malformed_requests_never_a_5xx(serve):
    _fuzz(serve)
    assert sum(STATUSES.values()) == EXAMPLES
    assert serve.healthy() and serve.proc.poll() is None
    assert set(STATUSES) - {200} and all(400 <= s < 500 for s in STATUSES if s != 200), STATUSES

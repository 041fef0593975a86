"""`neurodebug serve`: the local runtime over HTTP, in Meta's and vLLM's completion contracts.

* ``POST /completions`` -- Meta's CWM server (``serve/fgserve.py``), as its ``cwmdbg`` demo
  calls it: ``{"prompt": [ids] | "text", "max_tokens", "temperature", "top_p", "stop":
  "<|frame_sep|>", "n", "model", "min_tokens"}`` -> ``{"id", "object": "text_completion",
  "created", "model", "choices": [{"index", "text", "tokens": [ids, stop token included],
  "logprobs": null, "finish_reason"}], "usage", "system_fingerprint"}``.
* ``POST /v1/completions`` -- vLLM's OpenAI-style completions with a token-id prompt:
  ``stop`` / ``stop_token_ids`` / ``return_token_ids`` / ``prompt_logprobs`` / ``logprobs`` (with
  ``return_tokens_as_token_ids``) / ``allowed_token_ids`` / ``seed`` ...;
  choices carry ``token_ids``, ``prompt_token_ids``, ``stop_reason`` as vLLM writes them.
* ``GET /health``, ``GET /v1/models``, ``GET /stats`` (the cache counters below).

Bad JSON, unknown fields, a prompt over the context limit, or bad values give a 4xx with
``{"error": {"message", "type", "code"}}``; an exception inside a request gives a 500 with a
sentence; the server keeps serving either way.

Prefix reuse: the server keeps the model states (KV caches) of the last ``cache_size``
requests. A new request continues the state sharing the longest common token prefix with its
prompt, truncated to that prefix, so a client that resends the whole trace at every step (as
Meta's client does) pays only for the tokens it has not sent before. ``stats`` counts
prompt tokens computed and reused.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from neurodebug.backends.base import Predictor, State

#: Fields each contract accepts (anything else is a 400: a misspelt option must not be ignored).
META_FIELDS = {"prompt", "temperature", "top_p", "max_tokens", "min_tokens", "model", "n", "stop", "seed"}
VLLM_FIELDS = {
    "prompt", "model", "max_tokens", "temperature", "top_p", "top_k", "min_tokens", "n", "stop",
    "stop_token_ids", "seed", "stream", "echo", "logprobs", "prompt_logprobs", "return_token_ids",
    "skip_special_tokens", "include_stop_str_in_output", "ignore_eos", "user", "best_of",
    "presence_penalty", "frequency_penalty", "repetition_penalty", "spaces_between_special_tokens",
    "return_tokens_as_token_ids", "allowed_token_ids",
}
#: The most ``logprobs`` a request may ask for (vLLM's default ``max_logprobs``).
MAX_LOGPROBS = 20
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_N = 8


class RequestError(Exception):
    """A client mistake: becomes a 4xx JSON error."""

    def __init__(self, message: str, status: int = 400, field_: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field_


@dataclass
class Stats:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0  # prompt tokens received
    prompt_tokens_computed: int = 0  # prompt tokens the model had to run
    prompt_tokens_reused: int = 0  # prompt tokens taken from a cached state
    generated_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Gen:
    tokens: list[int]
    finish_reason: str  # "stop" | "length"
    stop_reason: int | str | None = None
    #: per token, when logprobs were asked for: (its logprob, [(id, logprob)] of the top tokens)
    logprobs: list[tuple[float, list[tuple[int, float]]]] | None = None


@dataclass
class _Allowed:
    """vLLM's ``allowed_token_ids`` as a runtime constraint: every token is one of them."""

    ids: list[int]

    def allowed(self, generated) -> list[int]:
        return self.ids


@dataclass
class Engine:
    """The model plus the prefix cache; one request runs at a time (one model, one device)."""

    predictor: Predictor
    cache_size: int = 4
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self):
        self.lock = threading.Lock()
        self.states: list[State] = []  # most recently used last
        tok = self.predictor.tokenizer
        self.vocab_size = int(getattr(tok, "vocab_size", 0) or 0)
        self.default_stop_ids = list(getattr(tok, "stop_ids", []) or [])

    # -- the prefix cache ----------------------------------------------------------------
    def _state_for(self, prompt: list[int]) -> State:
        """A state holding exactly ``prompt`` with fresh next-token logits, reusing a cached prefix."""
        best, best_len = None, 0
        for s in self.states:
            ids = s.ids
            n = min(len(ids), len(prompt))
            k = 0
            while k < n and ids[k] == prompt[k]:
                k += 1
            if k > best_len:
                best, best_len = s, k
        # keep at least one prompt token to compute: its logits give the first new token
        reuse = min(best_len, len(prompt) - 1)
        if best is None or reuse <= 0:
            state = self.predictor.open(prompt)
            reuse = 0
            if len(self.states) >= self.cache_size:
                self.states.pop(0)
        else:
            self.states.remove(best)
            state = best
            state.truncate(reuse)
            state.extend(prompt[reuse:])
        self.states.append(state)
        self.stats.prompt_tokens += len(prompt)
        self.stats.prompt_tokens_reused += reuse
        self.stats.prompt_tokens_computed += len(prompt) - reuse
        return state

    def generate(self, prompt: list[int], max_tokens: int, temperature: float, top_p: float,
                 stop_ids: list[int], stop_texts: list[str], seed: int | None, logprobs: int | None = None,
                 allowed: list[int] | None = None) -> _Gen:
        with self.lock:
            state = self._state_for(prompt)
            if logprobs is not None and not hasattr(state, "generate_logprobs"):
                raise RequestError("This backend cannot report logprobs.", 400, "logprobs")
            tok = self.predictor.tokenizer
            hit: list[str | None] = [None]
            text_stop = None
            if stop_texts:
                generated: list[int] = []

                def text_stop() -> bool:  # noqa: F811 - checked per token by the state
                    if not generated:
                        return False
                    tail = tok.decode(generated[-32:])
                    for s in stop_texts:
                        if s and s in tail:
                            hit[0] = s
                            return True
                    return False

                def on_token(t: int) -> None:
                    generated.append(t)
            else:
                on_token = None
            lps = None
            extra = {} if allowed is None else {"constraint": _Allowed(allowed)}
            if allowed is not None and not getattr(state, "applies_constraint", False):
                raise RequestError("This backend cannot restrict tokens (allowed_token_ids).", 400, "allowed_token_ids")
            if logprobs is not None:
                new, lps = state.generate_logprobs(max_tokens, logprobs, stop_ids=stop_ids, temperature=temperature,
                                                   top_p=top_p, seed=seed, on_token=on_token, should_stop=text_stop,
                                                   **extra)
            else:
                new = state.generate(max_tokens, stop_ids=stop_ids, temperature=temperature, top_p=top_p,
                                     seed=seed, on_token=on_token, should_stop=text_stop, **extra)
            self.stats.generated_tokens += len(new)
            if new and new[-1] in stop_ids:
                return _Gen(new, "stop", new[-1], lps)
            if hit[0] is not None:
                return _Gen(new, "stop", hit[0], lps)
            return _Gen(new, "length", None, lps)

    def prompt_logprobs(self, prompt: list[int]) -> list[dict[str, Any] | None]:
        """vLLM's prompt_logprobs=1 entries: per position, the actual token and the top token."""
        fn = getattr(self.predictor, "prompt_logprobs", None)
        if fn is None:
            raise RequestError("This backend cannot report prompt_logprobs.", 400, "prompt_logprobs")
        with self.lock:
            rows = fn(prompt)
        tok = self.predictor.tokenizer
        out: list[dict[str, Any] | None] = [None]
        for p in range(1, len(prompt)):
            top_id, top_lp, actual_lp, actual_rank = rows[p - 1]
            entry = {str(prompt[p]): {"logprob": actual_lp, "rank": actual_rank, "decoded_token": tok.decode([prompt[p]])}}
            entry.setdefault(str(top_id), {"logprob": top_lp, "rank": 1, "decoded_token": tok.decode([top_id])})
            out.append(entry)
        return out


# -- request validation ---------------------------------------------------------------------


def _logprobs(tok, ids: list[int], steps, as_ids: bool) -> dict[str, Any]:
    """The OpenAI completions ``logprobs`` object as vLLM writes it: per generated token its
    text, logprob, text offset and the top tokens (the chosen one included); tokens are
    ``"token_id:N"`` with ``return_tokens_as_token_ids``, else their text."""
    name = (lambda t: f"token_id:{t}") if as_ids else (lambda t: tok.decode([t]))  # noqa: E731
    out: dict[str, Any] = {"text_offset": [], "token_logprobs": [], "tokens": [], "top_logprobs": []}
    offset = 0
    for t, (lp, top) in zip(ids, steps):
        out["tokens"].append(name(t))
        out["token_logprobs"].append(lp)
        out["text_offset"].append(offset)
        offset += len(tok.decode([t]))
        entry = {name(i): v for i, v in top}
        entry.setdefault(name(t), lp)
        out["top_logprobs"].append(entry)
    return out


def _number(body: dict, name: str, default, lo=None, hi=None, integer=False):
    v = body.get(name, default)
    if v is None:
        return default
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if not ok or isinstance(v, bool):
        raise RequestError(f"{name} must be {'an integer' if integer else 'a number'}.", 400, name)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise RequestError(f"{name} must be between {lo} and {hi}.", 400, name)
    return v


class Handler(BaseHTTPRequestHandler):
    server_version = "neurodebug"
    protocol_version = "HTTP/1.1"

    @property
    def engine(self) -> Engine:
        return self.server.engine  # type: ignore[attr-defined]

    def log_message(self, fmt, *args):  # quiet unless the server was started verbose
        if getattr(self.server, "verbose", False):
            super().log_message(fmt, *args)

    # -- plumbing --------------------------------------------------------------------------
    def _send(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): nothing to do
            self.close_connection = True

    def _error(self, status: int, message: str, field_: str | None = None) -> None:
        self.engine.stats.errors += 1
        self.close_connection = True  # the body may be unread: do not reuse this connection
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._send(status, {"error": {"message": message, "type": kind, "param": field_, "code": status}})

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path in ("/health", ""):
            self._send(200, {"status": "ok", "model": self.engine.predictor.name})
        elif path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self._model_name(), "object": "model", "owned_by": "neurodebug"}]})
        elif path == "/stats":
            self._send(200, self.engine.stats.to_dict())
        else:
            self._error(404, f"There is no {self.path} here; POST /completions or /v1/completions.")

    def do_POST(self):
        path = self.path.split("?")[0].rstrip("/")
        try:
            if path not in ("/completions", "/v1/completions"):
                raise RequestError(f"There is no {self.path} here; POST /completions or /v1/completions.", 404)
            body = self._read_json()
            self.engine.stats.requests += 1
            reply = self._meta(body) if path == "/completions" else self._vllm(body)
            self._send(200, reply)
        except RequestError as e:
            self._error(e.status, str(e), e.field)
        except Exception as e:  # noqa: BLE001 - a request must never take the server down
            self._error(500, f"The server failed on this request ({type(e).__name__}: {e}).")

    def _read_json(self) -> dict:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise RequestError("Content-Length is not a number.") from None
        if n <= 0:
            raise RequestError("The request has no JSON body.")
        if n > MAX_BODY_BYTES:
            raise RequestError("The request body is too large.", 413)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise RequestError("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object.")
        return body

    def _model_name(self) -> str:
        return getattr(self.server, "model_name", None) or self.engine.predictor.name

    # -- shared validation -------------------------------------------------------------------
    def _prompt(self, body: dict) -> list[int]:
        if "prompt" not in body:
            raise RequestError("prompt is required.", 400, "prompt")
        p = body["prompt"]
        tok = self.engine.predictor.tokenizer
        if isinstance(p, str):
            ids = [tok.bos_id, *tok.encode(p)]
        elif isinstance(p, list) and p and isinstance(p[0], list) and len(p) == 1:
            ids = p[0]  # a batch of one token-id prompt
        elif isinstance(p, list):
            ids = p
        else:
            raise RequestError("prompt must be a list of token ids or a string.", 400, "prompt")
        if not ids:
            raise RequestError("prompt is empty.", 400, "prompt")
        vocab = self.engine.vocab_size
        for t in ids:
            if not isinstance(t, int) or isinstance(t, bool) or t < 0 or (vocab and t >= vocab):
                raise RequestError(f"prompt holds {t!r}, which is not a token id of this model (0..{vocab - 1}).", 400, "prompt")
        limit = self.engine.predictor.context_limit
        if limit and len(ids) >= limit:
            raise RequestError(f"The prompt has {len(ids)} tokens; this model's context limit is {limit}.", 400, "prompt")
        return list(ids)

    def _max_tokens(self, body: dict, prompt: list[int], default: int) -> int:
        n = _number(body, "max_tokens", default, 1, None, integer=True)
        limit = self.engine.predictor.context_limit
        return min(n, limit - len(prompt)) if limit else n

    def _stops(self, stop: Any) -> tuple[list[int], list[str]]:
        """Stop strings: a special token's name stops on that id, other text on the text."""
        if stop is None:
            return [], []
        items = [stop] if isinstance(stop, (str, int)) else stop
        if not isinstance(items, list):
            raise RequestError("stop must be a string or a list of strings.", 400, "stop")
        tok = self.engine.predictor.tokenizer
        ids, texts = [], []
        for s in items:
            if isinstance(s, int) and not isinstance(s, bool):
                ids.append(s)  # some clients send the id itself
            elif isinstance(s, str):
                if getattr(tok, "has_special", lambda n: False)(s):
                    ids.append(tok.special_id(s))
                elif s:
                    texts.append(s)
            else:
                raise RequestError("stop must be a string or a list of strings.", 400, "stop")
        return ids, texts

    def _sampling(self, body: dict, default_temp: float) -> tuple[float, float, int | None, int]:
        temperature = _number(body, "temperature", default_temp, 0.0, 100.0)
        top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
        if top_p == 0:
            raise RequestError("top_p must be above 0.", 400, "top_p")
        seed = _number(body, "seed", None, integer=True)
        n = _number(body, "n", 1, 1, MAX_N, integer=True)
        return float(temperature), float(top_p), seed, n

    # -- Meta's /completions -----------------------------------------------------------------
    def _meta(self, body: dict) -> dict:
        unknown = sorted(set(body) - META_FIELDS)
        if unknown:
            raise RequestError(f"Unknown field {unknown[0]!r} for /completions.", 400, unknown[0])
        prompt = self._prompt(body)
        max_tokens = self._max_tokens(body, prompt, 8192)
        # Meta's server uses its configured defaults (temperature 0.6, top_p 0.95) when unset
        temperature, top_p, seed, n = self._sampling(body, 0.6)
        if body.get("top_p") is None:
            top_p = 0.95
        stop_ids, stop_texts = self._stops(body.get("stop"))
        stop_ids = list(dict.fromkeys(stop_ids + self.engine.default_stop_ids))
        tok = self.engine.predictor.tokenizer
        choices, completion = [], 0
        for ix in range(n):
            g = self.engine.generate(prompt, max_tokens, temperature, top_p, stop_ids, stop_texts,
                                     None if seed is None else seed + ix)
            completion += len(g.tokens)
            choices.append({"index": ix, "text": tok.decode(g.tokens), "tokens": g.tokens,
                            "logprobs": None, "finish_reason": g.finish_reason})
        return {
            "id": uuid.uuid4().hex,
            "choices": choices,
            "created": int(time.time()),
            "model": body.get("model"),
            "object": "text_completion",
            "usage": {"completion_tokens": completion, "prompt_tokens": len(prompt),
                      "total_tokens": len(prompt) + completion},
            "system_fingerprint": self._model_name(),
        }

    # -- vLLM's /v1/completions ----------------------------------------------------------------
    def _vllm(self, body: dict) -> dict:
        unknown = sorted(set(body) - VLLM_FIELDS)
        if unknown:
            raise RequestError(f"Unknown field {unknown[0]!r} for /v1/completions.", 400, unknown[0])
        if body.get("stream"):
            raise RequestError("Streaming is not supported; send stream: false.", 400, "stream")
        for name in ("echo", "best_of"):
            if body.get(name):
                raise RequestError(f"{name} is not supported by this server.", 400, name)
        prompt = self._prompt(body)
        max_tokens = self._max_tokens(body, prompt, 16)
        temperature, top_p, seed, n = self._sampling(body, 1.0)
        stop_ids, stop_texts = self._stops(body.get("stop"))
        extra = body.get("stop_token_ids") or []
        if not isinstance(extra, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in extra):
            raise RequestError("stop_token_ids must be a list of token ids.", 400, "stop_token_ids")
        stop_ids = list(dict.fromkeys(stop_ids + extra + ([] if body.get("ignore_eos") else self.engine.default_stop_ids)))
        plp = _number(body, "prompt_logprobs", None, 0, MAX_LOGPROBS, integer=True)
        lp_k = _number(body, "logprobs", None, 0, MAX_LOGPROBS, integer=True)
        allowed = body.get("allowed_token_ids")
        if allowed is not None and (not isinstance(allowed, list) or not allowed or not all(
                isinstance(t, int) and not isinstance(t, bool) and 0 <= t < (self.engine.vocab_size or 2**31)
                for t in allowed)):
            raise RequestError("allowed_token_ids must be a non-empty list of token ids of this model's vocabulary.",
                               400, "allowed_token_ids")
        skip = body.get("skip_special_tokens", True)
        tok = self.engine.predictor.tokenizer
        choices, completion = [], 0
        for ix in range(n):
            g = self.engine.generate(prompt, max_tokens, temperature, top_p, stop_ids, stop_texts,
                                     None if seed is None else seed + ix, lp_k, allowed)
            completion += len(g.tokens)
            shown = [t for t in g.tokens if not (skip and tok.is_special(t))]
            if g.finish_reason == "stop" and isinstance(g.stop_reason, int) and not body.get("include_stop_str_in_output"):
                shown = [t for t in shown if t != g.stop_reason] if shown[-1:] == [g.stop_reason] else shown
            choice: dict[str, Any] = {"index": ix, "text": tok.decode(shown),
                                      "logprobs": None if g.logprobs is None else _logprobs(
                                          tok, g.tokens, g.logprobs, bool(body.get("return_tokens_as_token_ids"))),
                                      "finish_reason": g.finish_reason, "stop_reason": g.stop_reason}
            if body.get("return_token_ids"):
                choice["token_ids"] = g.tokens
                choice["prompt_token_ids"] = prompt
            if plp is not None:
                choice["prompt_logprobs"] = self.engine.prompt_logprobs(prompt)
            choices.append(choice)
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model") or self._model_name(),
            "choices": choices,
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": completion,
                      "total_tokens": len(prompt) + completion},
        }


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 5678, verbose: bool = False,
                 model_name: str | None = None):
        super().__init__((host, port), Handler)
        self.engine = engine
        self.verbose = verbose
        self.model_name = model_name

    def handle_error(self, request, client_address):
        """A client that vanished mid-request is not worth a traceback; anything else is logged."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests, embedding); stop with shutdown()."""
        t = threading.Thread(target=self.serve_forever, name="neurodebug-serve", daemon=True)
        t.start()
        return t


def make_server(predictor: Predictor, host: str = "127.0.0.1", port: int = 5678, cache_size: int = 4,
                verbose: bool = False, model_name: str | None = None) -> Server:
    return Server(Engine(predictor, cache_size=cache_size), host, port, verbose=verbose, model_name=model_name)

"""`neurodebug serve`: the local runtime over HTTP, in Meta's and vLLM's completion contracts.

* ``POST /completions`` -- Meta's CWM server (``serve/fgserve.py``), as its ``cwmdbg`` demo
  calls it: ``{"prompt": [ids] | "text", "max_tokens", "temperature", "top_p", "stop":
  "<|frame_sep|>", "n", "model", "min_tokens"}`` -> ``{"id", "object": "text_completion",
  "created", "model", "choices": [{"index", "text", "tokens": [ids, stop token included],
  "logprobs": null, "finish_reason"}], "usage", "system_fingerprint"}``.
* ``POST /v1/completions`` -- vLLM's OpenAI-style completions with a token-id prompt:
  ``stop`` / ``stop_token_ids`` / ``return_token_ids`` / ``prompt_logprobs`` / ``logprobs`` (with
  ``return_tokens_as_token_ids``; ``logprob_token_ids`` names the tokens they give instead of the
  top ones) / ``allowed_token_ids`` / ``seed`` ...;
  choices carry ``token_ids``, ``prompt_token_ids``, ``stop_reason`` as vLLM writes them;
  ``stream: true`` answers in server-sent events, as the OpenAI client libraries read them.
* ``GET /health``, ``GET /v1/models`` (with vLLM's ``max_model_len``, the context limit), ``GET
  /stats`` (the cache counters below).

Requests are validated by the pydantic models of :mod:`neurodebug.serve.schema`. Bad JSON,
unknown fields, a prompt over the context limit, or bad values give a 4xx with one sentence in
``{"error": {"message", "type", "param", "code"}}``; a method a path does not take is a 405 with
``Allow``; only a failure inside the server is a 5xx; the server keeps serving either way. As
vLLM's ``--served-model-name`` and ``--api-key``: ``model_name`` makes a /v1 request naming
another model a 404, ``api_key`` makes every path but /health a 401 without
``Authorization: Bearer KEY``.

The http server is the standard library's threading one: the model runs one request at a time
(one lock, one device), so an asynchronous stack would add a dependency and no throughput.

Prefix reuse: the server keeps the model states (KV caches) of the last ``cache_size``
requests. A new request continues the state sharing the longest common token prefix with its
prompt, truncated to that prefix, so a client that resends the whole trace at every step (as
Meta's client does) pays only for the tokens it has not sent before. ``stats`` counts
prompt tokens computed and reused.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from neurodebug.backends.base import Predictor, State
from neurodebug.serve.schema import MetaRequest, VllmRequest, error_sentence

MAX_BODY_BYTES = 64 * 1024 * 1024


class RequestError(Exception):
    """A client mistake: becomes a 4xx JSON error."""

    def __init__(self, message: str, status: int = 400, field_: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.field = field_
        self.headers = headers


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
                 allowed: list[int] | None = None, on_token=None, logprob_ids: list[int] | None = None) -> _Gen:
        """Generate from ``prompt``; ``on_token(id)`` sees each token as it comes (streaming);
        ``logprob_ids``: the tokens each step's logprobs name instead of the top ``logprobs``."""
        with self.lock:
            state = self._state_for(prompt)
            if logprobs is not None and not hasattr(state, "generate_logprobs"):
                raise RequestError("This backend cannot report logprobs.", 400, "logprobs")
            tok = self.predictor.tokenizer
            hit: list[str | None] = [None]
            text_stop = None
            if stop_texts:
                generated: list[int] = []
                stream = on_token

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
                    if stream is not None:
                        stream(t)
            lps = None
            extra = {} if allowed is None else {"constraint": _Allowed(allowed)}
            if allowed is not None and not state.applies_constraint:
                raise RequestError("This backend cannot restrict tokens (allowed_token_ids).", 400, "allowed_token_ids")
            try:
                if logprobs is not None:
                    new, lps = state.generate_logprobs(max_tokens, logprobs, stop_ids=stop_ids, temperature=temperature,
                                                       top_p=top_p, seed=seed, on_token=on_token, should_stop=text_stop,
                                                       **extra, **({} if logprob_ids is None else {"token_ids": logprob_ids}))
                else:
                    new = state.generate(max_tokens, stop_ids=stop_ids, temperature=temperature, top_p=top_p,
                                         seed=seed, on_token=on_token, should_stop=text_stop, **extra)
            except BaseException:
                self.states.remove(state)  # a generation cut off (a streaming client gone) leaves it half-made
                raise
            self.stats.generated_tokens += len(new)
            if new and new[-1] in stop_ids:
                return _Gen(new, "stop", new[-1], lps)
            if hit[0] is not None:
                return _Gen(new, "stop", hit[0], lps)
            return _Gen(new, "length", None, lps)

    def prompt_logprobs(self, prompt: list[int]) -> list[dict[str, Any] | None]:
        """vLLM's prompt_logprobs=1 entries: per position, the actual token and the top token."""
        if not self.predictor.supports_prompt_logprobs:
            raise RequestError("This backend cannot report prompt_logprobs.", 400, "prompt_logprobs")
        with self.lock:
            rows = self.predictor.prompt_logprobs(prompt)
        tok = self.predictor.tokenizer
        out: list[dict[str, Any] | None] = [None]
        for p in range(1, len(prompt)):
            top_id, top_lp, actual_lp, actual_rank = rows[p - 1]
            entry = {str(prompt[p]): {"logprob": actual_lp, "rank": actual_rank, "decoded_token": tok.decode([prompt[p]])}}
            entry.setdefault(str(top_id), {"logprob": top_lp, "rank": 1, "decoded_token": tok.decode([top_id])})
            out.append(entry)
        return out


# -- replies ---------------------------------------------------------------------------------


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


class _TextDelta:
    """Streamed text: each token's new characters, held back while they end inside a character
    (a byte-level token can split one)."""

    def __init__(self, tok):
        self.tok, self.ids, self.sent = tok, [], ""

    def push(self, t: int) -> str:
        self.ids.append(t)
        full = self.tok.decode(self.ids)
        if full.endswith("\ufffd"):
            return ""
        delta, self.sent = full[len(self.sent):], full
        return delta

    def rest(self) -> str:
        full = self.tok.decode(self.ids)
        delta, self.sent = full[len(self.sent):], full
        return delta


#: The paths this server answers, and the methods each takes (anything else: 404 or 405).
ROUTES: dict[str, tuple[str, ...]] = {
    "": ("GET",), "/health": ("GET",), "/v1/models": ("GET",), "/stats": ("GET",),
    "/completions": ("POST",), "/v1/completions": ("POST",),
}
#: Paths that answer without the API key (a load balancer's health check).
OPEN_PATHS = {"", "/health"}
WHERE = "POST /completions or /v1/completions"


class Handler(BaseHTTPRequestHandler):
    server_version = "neurodebug"
    protocol_version = "HTTP/1.1"

    @property
    def engine(self) -> Engine:
        return self.server.engine  # type: ignore[attr-defined]

    def log_message(self, fmt, *args):  # quiet unless the server was started verbose
        if getattr(self.server, "verbose", False):
            super().log_message(fmt, *args)

    def __getattr__(self, name: str):
        # BaseHTTPRequestHandler calls do_<METHOD>: every method lands in _dispatch, so one the
        # server does not take is a 405 with Allow (not http.server's 501)
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    # -- plumbing --------------------------------------------------------------------------
    def _send(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): nothing to do
            self.close_connection = True

    def _error(self, status: int, message: str, field_: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.engine.stats.errors += 1
        # the body may be unread: this connection is not reused, and the client is told so (a
        # client that kept it would send its next request into a closed socket)
        self.close_connection = True
        self._send(status, _error_body(status, message, field_), {**(headers or {}), "Connection": "close"})

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (a malformed request line or header) as a JSON 4xx with a
        status line (http.server writes none while it takes the client for HTTP/0.9)."""
        if code >= 500:  # 505 for HTTP/2.0 on this port: the client's request is at fault
            code = 400
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        self._error(code, (message or "The request is malformed").rstrip(".") + ".")

    def _dispatch(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        try:
            methods = ROUTES.get(path)
            if methods is None:
                raise RequestError(f"There is no {self.path} here; {WHERE}.", 404)
            if self.command not in methods:
                raise RequestError(f"{self.command} is not allowed on {path or '/'}; use {', '.join(methods)}.", 405,
                                   headers={"Allow": ", ".join(methods)})
            self._authorize(path)
            if self.command == "GET":
                self._get(path)
            else:
                self._post(path)
        except RequestError as e:
            self._error(e.status, str(e), e.field, e.headers)
        except Exception as e:  # noqa: BLE001 - a request must never take the server down
            self._error(500, f"The server failed on this request ({type(e).__name__}: {e}).")

    def _authorize(self, path: str) -> None:
        key = getattr(self.server, "api_key", None)
        if not key or path in OPEN_PATHS:
            return
        got = self.headers.get("Authorization", "")
        if not hmac.compare_digest(got.encode(), f"Bearer {key}".encode()):
            raise RequestError("Unauthorized: send the server's API key as the header 'Authorization: Bearer KEY'.", 401,
                               headers={"WWW-Authenticate": "Bearer"})

    def _get(self, path: str) -> None:
        if path in ("/health", ""):
            self._send(200, {"status": "ok", "model": self.engine.predictor.name})
        elif path == "/v1/models":
            model = {"id": self._model_name(), "object": "model", "owned_by": "neurodebug",
                     "max_model_len": self.engine.predictor.context_limit}
            self._send(200, {"object": "list", "data": [model]})
        else:
            self._send(200, self.engine.stats.to_dict())

    def _post(self, path: str) -> None:
        schema = MetaRequest if path == "/completions" else VllmRequest
        raw = self._read_body()
        tok = self.engine.predictor.tokenizer
        try:
            req = schema.model_validate_json(raw, context={"vocab_size": self.engine.vocab_size})
        except ValidationError as e:
            message, name = error_sentence(e, path)
            raise RequestError(message, 400, name) from None
        self.engine.stats.requests += 1
        if path == "/completions":
            self._send(200, self._meta(req, tok))
            return
        served = getattr(self.server, "model_name", None)
        if served and req.model not in (None, served):
            raise RequestError(f"The model `{req.model}` does not exist.", 404, "model")
        if req.stream:
            self._stream(req, tok)
        else:
            self._send(200, self._vllm(req, tok))

    def _read_body(self) -> bytes:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise RequestError("Content-Length is not a number.") from None
        if n <= 0:
            raise RequestError("The request has no JSON body (or no Content-Length).", 411 if self.headers.get(
                "Transfer-Encoding") else 400)
        if n > MAX_BODY_BYTES:
            raise RequestError("The request body is too large.", 413)
        return self.rfile.read(n)

    def _model_name(self) -> str:
        return getattr(self.server, "model_name", None) or self.engine.predictor.name

    # -- shared by both contracts --------------------------------------------------------------
    def _prompt_ids(self, prompt: str | list[int]) -> list[int]:
        """Token ids of a validated prompt (text is encoded after BOS), inside the context."""
        tok = self.engine.predictor.tokenizer
        ids = [tok.bos_id, *tok.encode(prompt)] if isinstance(prompt, str) else list(prompt)
        limit = self.engine.predictor.context_limit
        if limit and len(ids) >= limit:
            raise RequestError(f"The prompt has {len(ids)} tokens; this model's context limit is {limit}.", 400, "prompt")
        return ids

    def _max_tokens(self, n: int | None, prompt: list[int], default: int) -> int:
        n = default if n is None else n
        limit = self.engine.predictor.context_limit
        return min(n, limit - len(prompt)) if limit else n

    def _stops(self, stop: str | list[str | int] | None) -> tuple[list[int], list[str]]:
        """Stop strings: a special token's name stops on that id, other text on the text."""
        items = [] if stop is None else [stop] if isinstance(stop, str) else stop
        tok = self.engine.predictor.tokenizer
        ids, texts = [], []
        for s in items:
            if isinstance(s, int):
                ids.append(s)  # some clients send the id itself
            elif getattr(tok, "has_special", lambda n: False)(s):
                ids.append(tok.special_id(s))
            elif s:
                texts.append(s)
        return ids, texts

    # -- Meta's /completions -----------------------------------------------------------------
    def _meta(self, req: MetaRequest, tok) -> dict:
        prompt = self._prompt_ids(req.prompt)
        max_tokens = self._max_tokens(req.max_tokens, prompt, 8192)
        # Meta's server uses its configured defaults (temperature 0.6, top_p 0.95) when unset
        temperature = 0.6 if req.temperature is None else req.temperature
        top_p = 0.95 if req.top_p is None else req.top_p
        stop_ids, stop_texts = self._stops(req.stop)
        stop_ids = list(dict.fromkeys(stop_ids + self.engine.default_stop_ids))
        choices, completion = [], 0
        for ix in range(req.n):
            g = self.engine.generate(prompt, max_tokens, temperature, top_p, stop_ids, stop_texts,
                                     None if req.seed is None else req.seed + ix)
            completion += len(g.tokens)
            choices.append({"index": ix, "text": tok.decode(g.tokens), "tokens": g.tokens,
                            "logprobs": None, "finish_reason": g.finish_reason})
        return {
            "id": uuid.uuid4().hex,
            "choices": choices,
            "created": int(time.time()),
            "model": req.model,
            "object": "text_completion",
            "usage": _usage(len(prompt), completion),
            "system_fingerprint": self._model_name(),
        }

    # -- vLLM's /v1/completions ----------------------------------------------------------------
    def _vllm_run(self, req: VllmRequest):
        """(prompt ids, stop ids, generate(choice index, on_token) -> _Gen) of a vLLM request."""
        prompt = self._prompt_ids(req.prompt)
        max_tokens = self._max_tokens(req.max_tokens, prompt, 16)
        temperature = 1.0 if req.temperature is None else req.temperature
        top_p = 1.0 if req.top_p is None else req.top_p
        stop_ids, stop_texts = self._stops(req.stop)
        eos = [] if req.ignore_eos else self.engine.default_stop_ids
        stop_ids = list(dict.fromkeys(stop_ids + (req.stop_token_ids or []) + eos))

        def generate(ix: int, on_token=None) -> _Gen:
            return self.engine.generate(prompt, max_tokens, temperature, top_p, stop_ids, stop_texts,
                                        None if req.seed is None else req.seed + ix, req.logprobs,
                                        req.allowed_token_ids, on_token=on_token, logprob_ids=req.logprob_token_ids)

        return prompt, stop_ids, generate

    @staticmethod
    def _shown(req: VllmRequest, tok, stop_ids: list[int]):
        """Whether a generated token is part of the reply's text (vLLM's skip_special_tokens and
        include_stop_str_in_output)."""
        def shown(t: int) -> bool:
            if t in stop_ids and not req.include_stop_str_in_output:
                return False
            return not (req.skip_special_tokens and tok.is_special(t))
        return shown

    def _vllm(self, req: VllmRequest, tok) -> dict:
        prompt, stop_ids, generate = self._vllm_run(req)
        shown = self._shown(req, tok, stop_ids)
        choices, completion = [], 0
        for ix in range(req.n):
            g = generate(ix)
            completion += len(g.tokens)
            choice: dict[str, Any] = {"index": ix, "text": tok.decode([t for t in g.tokens if shown(t)]),
                                      "logprobs": None if g.logprobs is None else _logprobs(
                                          tok, g.tokens, g.logprobs, req.return_tokens_as_token_ids),
                                      "finish_reason": g.finish_reason, "stop_reason": g.stop_reason}
            if req.return_token_ids:
                choice["token_ids"] = g.tokens
                choice["prompt_token_ids"] = prompt
            if req.prompt_logprobs is not None:
                choice["prompt_logprobs"] = self.engine.prompt_logprobs(prompt)
            choices.append(choice)
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": req.model or self._model_name(), "choices": choices,
                "usage": _usage(len(prompt), completion)}

    def _stream(self, req: VllmRequest, tok) -> None:
        """``stream: true``: server-sent events as vLLM and OpenAI send them -- a chunk per token
        (its new text; its id with ``return_token_ids``), a last chunk per choice with the finish
        reason, the usage with ``stream_options.include_usage``, then ``data: [DONE]``."""
        prompt, stop_ids, generate = self._vllm_run(req)  # a 4xx here still comes as JSON
        shown = self._shown(req, tok, stop_ids)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # the stream's end is the connection's
        self.end_headers()
        self.close_connection = True
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": req.model or self._model_name()}

        def event(obj: Any) -> None:
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()

        def chunk(ix: int, text: str, **more) -> dict:
            return {**head, "choices": [{"index": ix, "text": text, "logprobs": None, "finish_reason": None,
                                         "stop_reason": None, **more}]}

        completion = 0
        try:
            for ix in range(req.n):
                text = _TextDelta(tok)

                def on_token(t: int, ix=ix, text=text) -> None:
                    delta = text.push(t) if shown(t) else ""
                    if req.return_token_ids:
                        event(chunk(ix, delta, token_ids=[t]))
                    elif delta:
                        event(chunk(ix, delta))

                g = generate(ix, on_token)
                completion += len(g.tokens)
                event(chunk(ix, text.rest(), finish_reason=g.finish_reason, stop_reason=g.stop_reason))
            if req.stream_options and req.stream_options.include_usage:
                event({**head, "choices": [], "usage": _usage(len(prompt), completion)})
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away: the generation stopped at its next token
        except RequestError as e:
            event({"error": _error_body(e.status, str(e), e.field)["error"]})
        except Exception as e:  # noqa: BLE001 - the headers are sent: the failure goes in the stream
            event({"error": _error_body(500, f"The server failed on this request ({type(e).__name__}: {e}).")["error"]})
        try:
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _error_body(status: int, message: str, field_: str | None = None) -> dict:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": field_, "code": status}}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 5678, verbose: bool = False,
                 model_name: str | None = None, api_key: str | None = None):
        super().__init__((host, port), Handler)
        self.engine = engine
        self.verbose = verbose
        self.model_name = model_name  # as vLLM's --served-model-name: /v1 requests naming another are a 404
        self.api_key = api_key  # as vLLM's --api-key: every path but /health wants "Authorization: Bearer KEY"

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
                verbose: bool = False, model_name: str | None = None, api_key: str | None = None) -> Server:
    return Server(Engine(predictor, cache_size=cache_size), host, port, verbose=verbose, model_name=model_name,
                  api_key=api_key)

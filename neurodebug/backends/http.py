"""The http backend: a model behind a server, spoken to in token ids.

Two contracts:

* Meta's CWM server (``serve/fgserve.py`` in the CWM release), used by its ``cwmdbg`` demo:
  ``POST /completions`` with ``{"prompt": [ids], "max_tokens", "temperature", "top_p",
  "stop": "<|frame_sep|>"}``; the reply's ``choices[0]["tokens"]`` holds the generated ids,
  stop token included.
* vLLM's OpenAI-style ``POST /v1/completions`` with a token-id prompt,
  ``"stop_token_ids"`` and ``"return_token_ids": true``; the reply's ``choices[0]["token_ids"]``
  holds the generated ids (vLLM reports the stop token in ``stop_reason``; it is appended when
  the ids lack it). Teacher forcing asks for ``"prompt_logprobs": 1`` (the top token at every
  prompt position).

The server holds the model, so a state here is just the token ids; each generation sends all
of them. One frame is one request: a cancel takes effect between requests, not inside one.
The prompt of each request is the previous one plus the tokens since (the frame the server
generated, a forced frame, a repair), so the server's prefix cache computes only those:
`neurodebug serve` continues the cached state with the longest common prefix, and vLLM's
automatic prefix caching (on by default in its V1 engine) reuses every full KV block of it
(tests/vllm/ measures the hit rate from vLLM's /metrics). Stepping back truncates the ids: the
next request is a prefix of an earlier one, again a cache hit.

Deployment: ``model_name`` is sent as ``"model"`` (vLLM refuses a name other than its
``--served-model-name``; None leaves the field out, which vLLM takes for its one model);
``api_key`` is sent as ``Authorization: Bearer`` (vLLM's ``--api-key``); a 429 or 503 is
asked again with exponential back-off (``RETRIES``), honouring ``Retry-After``. The served
model's context is vLLM's ``max_model_len`` from ``GET /v1/models`` (``context_limit``):
predictions keep inside it as they keep inside a local model's, so a trace longer than the
context is scored the same way on both rather than refused by the server.

Constraints (``generate(constraint=...)``, :mod:`neurodebug.constrain`) need a server that
can restrict a token to a set, which vLLM's contract does (``allowed_token_ids``). There a
frame is generated freely, checked token by token against the constraint, and *repaired* at
the first token it rules out: one request of one token with ``allowed_token_ids`` set to what
the constraint allows there (the model's most likely allowed token at temperature 0, a draw
among the allowed ones above it), and generation goes on freely from there. So a frame over
HTTP is what the local backend's constrained decoding gives, at the cost of two requests per
repaired token. Where the constraint allows exactly one token (jump-forward,
:func:`neurodebug.model.lookahead.forced_run`), the token is appended without a request and goes into the
next request's prompt (the server's prefix cache makes that cheap). Meta's contract has no such field: there ``applies_constraint`` is False and a
constraint is accepted and ignored (the server decodes freely).

Confidence (``generate(logprobs=[...])``, :mod:`neurodebug.confidence`): over vLLM's contract each
request asks for ``"logprobs": LOGPROBS`` (the chosen token's log-probability and the top ones,
of the model's distribution before any processing: vLLM's raw logprobs), and a token's
probability under the constraint is its probability renormalised over the allowed tokens among
those the server named, the mass of the others bounded (:func:`neurodebug.confidence.renormalised`);
a forced token's is 1. A token those 20 cannot fix within 1e-4 (typically a repaired one, whose
allowed alternatives all lie outside the top) is scored exactly when at most ``EXACT_UNNAMED``
(128) allowed tokens are unnamed: their log-probabilities are asked for after the same ids, in
one request (vLLM's ``logprob_token_ids``), and the allowed mass is then known in full. A server
without that field (vLLM before 0.32) is asked one token at a time (a request of one token
restricted to it), for at most ``EXACT_UNNAMED_ONE_BY_ONE`` of them. With more unnamed, the
bound's estimate stands where it is within 1e-3, and otherwise the frame has no confidence. A server that
gives no logprobs (Meta's contract, or a reply without them) says so once on stderr and its
frames show no confidence.
"""

from __future__ import annotations

import functools
import json
import sys
import urllib.parse
from typing import Any, Sequence

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util import Retry, Timeout

from neurodebug.backends.base import Predictor, State
from neurodebug.errors import UserError
from neurodebug.model.lookahead import forced_run

DEFAULT_TIMEOUT_S = 120.0
#: A server that is busy (429 Too Many Requests, 503 Service Unavailable: vLLM behind a load
#: balancer, a server still loading) is asked again this many times, after 0.5, 1, 2, 4, 8 s
#: (or what its Retry-After says).
RETRIES = 5
RETRY_STATUSES = (429, 503)
BACKOFF_S = 0.5
#: After a repair, the next free tokens are asked for in chunks of this many, doubling while
#: none needs repair (a long free continuation after a wrong token is mostly thrown away).
REPAIR_CHUNK = 8
#: Top tokens asked for with each generated one (vLLM's default max_logprobs): the allowed mass
#: a constrained token's probability is renormalised over.
LOGPROBS = 20
#: Tokens one request may name in vLLM's ``logprob_token_ids`` (its ``MAX_LOGPROB_TOKEN_IDS``).
NAMED_PER_REQUEST = 128
#: A constrained token those top ones cannot score within ``EXACT_TOLERANCE`` (typically a repair:
#: its allowed alternatives all lie outside them) is scored exactly when at most this many allowed
#: tokens are unnamed: their log-probabilities are asked for in one request (a prefix-cache hit),
#: so the allowed mass is known in full. Otherwise it keeps the bound's estimate where that is
#: within 1e-3 (``confidence.renormalised``), and no score past that. (Asking for up to 1024 of
#: them, 8 requests, gave the last 4 of 60 HumanEval frames a confidence at 4.7 times the
#: requests: docs/confidence.md.)
EXACT_UNNAMED = NAMED_PER_REQUEST
#: A server without ``logprob_token_ids`` is asked one token per request: at most this many.
EXACT_UNNAMED_ONE_BY_ONE = 16
#: The bound's error (in probability) past which a token is scored exactly: the bound's 1e-3 per
#: token adds up over a frame's tokens, so a frame would drift past 1e-3 of the local backend's.
EXACT_TOLERANCE = 1e-4


def parse_url(url: str) -> tuple[str, str]:
    """(endpoint URL, contract "meta" | "vllm") for a server URL.

    ``http://host:port`` and ``.../completions`` mean Meta's contract; a URL whose path holds
    ``/v1`` means vLLM's.
    """
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"{url} is not an http:// URL of a model server.")
    path = parts.path.rstrip("/")
    if "/v1" in path.split("/completions")[0] or path.endswith("/v1"):
        contract = "vllm"
        if not path.endswith("/completions"):
            path = path + "/completions"
    else:
        contract = "meta"
        if not path.endswith("/completions"):
            path = path + "/completions"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", "")), contract


class HttpClient:
    """POSTs JSON over kept-alive connections (urllib3: thread-safe, one pool per client), asks a
    busy server again with back-off, and turns every failure into one UserError sentence.

    ``api_key`` goes in ``Authorization: Bearer`` (vLLM's and OpenAI's ``--api-key``). A server
    that is down is not asked again (that is one sentence at once), nor one that timed out (the
    request may still be running there).
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S, api_key: str | None = None,
                 retries: int = RETRIES, backoff: float = BACKOFF_S):
        self.endpoint, self.contract = parse_url(url)
        self.timeout = timeout
        self.retries = retries
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        retry = Retry(total=retries, connect=0, read=0, redirect=0, other=0, status=retries,
                      status_forcelist=RETRY_STATUSES, allowed_methods=None, backoff_factor=backoff,
                      respect_retry_after_header=True, raise_on_status=False)
        self.pool = urllib3.PoolManager(retries=retry, timeout=Timeout(connect=min(timeout, 10.0), read=timeout))
        self.requests = 0

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        try:
            resp = self.pool.request("POST", self.endpoint, body=json.dumps(body).encode(), headers=self.headers)
        except (MaxRetryError, Urllib3Error, OSError) as e:
            raise UserError(self._failure(getattr(e, "reason", None) or e)) from None
        if resp.status >= 400:
            detail = _error_detail(resp.data)
            again = f" after {self.retries} retries" if resp.status in RETRY_STATUSES and self.retries else ""
            hint = "; the server wants an API key: pass --api-key or set NEURODEBUG_API_KEY" if resp.status == 401 else ""
            raise UserError(f"The model server at {self.endpoint} refused the request{again} "
                            f"(HTTP {resp.status}{': ' + detail if detail else ''}){hint}.")
        try:
            reply = json.loads(resp.data)
        except ValueError:
            raise UserError(f"The model server at {self.endpoint} replied with something that is not JSON.") from None
        if not isinstance(reply, dict):
            raise UserError(f"The model server at {self.endpoint} replied with unexpected JSON (not an object).")
        return reply

    def get_json(self, path: str) -> Any:
        """GET ``path`` beside the endpoint (``/v1/models`` for ``/v1/completions``); None when the
        server does not answer it with JSON (it is optional information, never an error)."""
        url = self.endpoint.rsplit("/completions", 1)[0] + path
        try:
            resp = self.pool.request("GET", url, headers=self.headers)
            return json.loads(resp.data) if resp.status == 200 else None
        except (MaxRetryError, Urllib3Error, OSError, ValueError):
            return None

    def _failure(self, reason: BaseException) -> str:
        if isinstance(reason, (ReadTimeoutError, TimeoutError)):
            return f"The model server at {self.endpoint} did not answer within {self.timeout:g} s."
        if isinstance(reason, ProtocolError):
            return f"The model server at {self.endpoint} closed the connection before it answered (did it stop?)."
        if isinstance(reason, NewConnectionError):
            reason = reason.__context__ or reason  # the OSError under urllib3's wording
        return f"Cannot reach the model server at {self.endpoint} ({reason}); is it running?"

    def close(self) -> None:
        self.pool.clear()


def _error_detail(raw: bytes) -> str:
    try:
        d = json.loads(raw)
        err = d.get("error", d)
        if isinstance(err, dict):
            return str(err.get("message", ""))[:300]
        return str(err)[:300]
    except Exception:
        return raw.decode("utf-8", "replace")[:200]


def _choice(reply: dict[str, Any], endpoint: str) -> dict[str, Any]:
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UserError(f"The model server at {endpoint} replied without choices.")
    return choices[0]


def _int_list(x: Any) -> list[int] | None:
    if isinstance(x, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in x):
        return list(x)
    return None


class HttpState(State):
    def __init__(self, predictor: "HttpPredictor", ids: Sequence[int]):
        self.p = predictor
        self._ids = list(ids)
        self.tokens_computed = 0
        self.forwards = 0

    @property
    def ids(self) -> list[int]:
        return self._ids

    def extend(self, ids: Sequence[int]) -> None:
        self._ids.extend(int(i) for i in ids)

    def truncate(self, n: int) -> None:
        del self._ids[n:]

    @property
    def gives_logprobs(self) -> bool:
        """True while the server gives logprobs (vLLM's contract, until a reply has none)."""
        return self.p.gives_logprobs

    #: tokens a constraint ruled out and a repair replaced (see the module docstring)
    repairs: int = 0

    @property
    def applies_constraint(self) -> bool:
        """True over vLLM's contract (constraints by repair, see the module docstring)."""
        return getattr(getattr(self.p, "client", None), "contract", None) == "vllm"

    def generate(self, max_new_tokens, stop_ids=(), temperature=0.0, top_p=1.0, seed=None,
                 on_token=None, should_stop=None, *, constraint=None, logprobs=None) -> list[int]:
        if should_stop is not None and should_stop():
            return []
        requests = self.p.client.requests
        scores = _Scores(temperature) if logprobs is not None and self.gives_logprobs else None
        if constraint is not None and self.applies_constraint:
            new = self._constrained(max_new_tokens, list(stop_ids), temperature, top_p, seed, should_stop, constraint,
                                    scores)
        else:
            new = _until_stop(self.p.complete(self._ids, max_new_tokens, list(stop_ids), temperature, top_p, seed,
                                              scores), stop_ids, max_new_tokens)
        if scores is not None:
            if scores.unresolved and self.p.scores_exactly:
                self.p.resolve(scores)
            logprobs.extend(scores.of(new))
        elif self.p.client.contract != "vllm":
            self.p._no_logprobs()
        self._ids.extend(new)
        self.tokens_computed += len(new)
        self.forwards += self.p.client.requests - requests  # a request is the server's forwards
        if on_token is not None:
            for t in new:
                on_token(t)
        return new

    def _constrained(self, max_new_tokens: int, stop_ids: list[int], temperature: float, top_p: float,
                     seed: int | None, should_stop, constraint, scores: "_Scores | None" = None) -> list[int]:
        """Free generation, checked against ``constraint`` and repaired where it rules a token out
        (``scores``: each kept token's log-probability under the constraint, when asked)."""
        gen: list[int] = []
        repairs = 0
        sets: dict[int, tuple] = {}  # a constraint answers from a few cached sequences: their sets, once

        def as_set(allowed):
            if not allowed:
                return None
            hit = sets.get(id(allowed))
            if hit is None or hit[0] is not allowed:
                hit = sets[id(allowed)] = (allowed, frozenset(allowed))
            return hit[1]

        chunk = max_new_tokens  # after a repair, free text is asked for in short, growing chunks
        stop = set(stop_ids)
        while len(gen) < max_new_tokens:
            if gen and should_stop is not None and should_stop():
                break
            # tokens the constraint forces go into the next request's prompt, not asked for
            forced = forced_run(constraint, gen, stop, max_new_tokens - len(gen))
            gen += forced
            if scores is not None:
                scores.forced(len(forced))
            if len(gen) >= max_new_tokens or (gen and gen[-1] in stop):
                break
            left = max_new_tokens - len(gen)
            ask = min(left, chunk)
            sub_seed = None if seed is None else seed + 2 * repairs + len(gen)
            free = _until_stop(self.p.complete(self._ids + gen, ask, stop_ids, temperature, top_p, sub_seed, scores),
                               stop_ids, ask)
            bad, ok, allowed = None, None, []
            for k, t in enumerate(free):
                ok = as_set(constraint.allowed(gen + free[:k]))
                allowed.append(ok)
                if ok and t not in ok:
                    bad = k
                    break
            if scores is not None:
                scores.keep(allowed[: len(free) if bad is None else bad], self._ids + gen)
            if bad is None:
                gen += free
                if len(free) < ask or (free and free[-1] in stop_ids):
                    break  # the frame ended (or the server stopped early)
                chunk *= 2
                continue
            gen += free[:bad]
            chunk = REPAIR_CHUNK
            repairs += 1
            self.repairs += 1
            tok = self.p.choose(self._ids + gen, sorted(ok), temperature, top_p,
                                None if seed is None else seed + 2 * repairs - 1, scores)
            if scores is not None:
                scores.keep([ok], self._ids + gen)
            gen.append(tok)
            if tok in stop_ids:
                break
        return gen[:max_new_tokens]


class _Scores:
    """The log-probabilities of one generation's kept tokens, from the server's replies: each
    request's tokens and logprobs come in (``reply``); the tokens kept of the last reply are
    scored with what the constraint allowed at each (``keep``), forced ones count 0."""

    def __init__(self, temperature: float):
        self.temperature = temperature
        #: the last reply's tokens, each with (its logprob, the top ones) when the server gave them
        self.pending: list[tuple[int, tuple[float, dict[int, float]] | None]] = []
        self.kept: list[float | None] = []
        #: kept tokens the top ones could not score: (index in kept, the ids before it, token,
        #: its step, the allowed set), for ``resolve``
        self.unresolved: list[tuple[int, list[int], int, tuple[float, dict[int, float]], frozenset]] = []

    def reply(self, tokens: list[int], steps: list[tuple[float, dict[int, float]]] | None) -> None:
        steps = list(steps or [])
        self.pending = [(t, steps[k] if k < len(steps) else None) for k, t in enumerate(tokens)]

    def forced(self, n: int) -> None:
        self.kept += [0.0] * n

    def keep(self, allowed: list, prefix: list[int] | None = None) -> None:
        """The first len(allowed) tokens of the last reply are kept; allowed[k]: the set the
        constraint allowed at token k (None: any); ``prefix``: the ids before the first of them
        (to score exactly later what the top ones cannot, ``resolve``)."""
        from neurodebug.confidence import renormalised

        for k, ((token, step), ok) in enumerate(zip(self.pending, allowed)):
            lp = None if step is None else renormalised(token, step[0], step[1], ok, self.temperature)
            loose = lp is None or renormalised(token, step[0], step[1], ok, self.temperature, EXACT_TOLERANCE) is None
            if loose and step is not None and ok and prefix is not None:
                self.unresolved.append((len(self.kept), prefix + [t for t, _ in self.pending[:k]], token, step, ok))
            self.kept.append(lp)

    def resolve(self, logprobs_of, limit: int) -> None:
        """Score exactly each token the top ones fixed only loosely or not at all, where at most
        ``limit`` allowed tokens are unnamed: ``logprobs_of(ids, tokens)`` gives their
        log-probabilities after ``ids`` ({token: logprob}, or None), and with the whole allowed set
        named the renormalisation is exact. The others keep what ``keep`` gave them."""
        from neurodebug.confidence import renormalised

        for at, ids, token, (lp, top), ok in self.unresolved:
            unnamed = [a for a in sorted(ok) if a not in top and a != token]
            if len(unnamed) > limit:
                continue
            asked = logprobs_of(ids, unnamed)
            if asked is not None:
                self.kept[at] = renormalised(token, lp, {**top, **asked}, ok, self.temperature)
        self.unresolved = []

    def of(self, new: list[int]) -> list[float]:
        """The kept tokens' log-probabilities, or none at all when one is unknown (a stop token
        the server reported apart) or they do not cover ``new``."""
        if len(self.kept) < len(new):  # an unconstrained generation: every token of the one reply
            self.keep([None] * (len(new) - len(self.kept)))
        out = self.kept[: len(new)]
        return [] if None in out or len(out) != len(new) else out  # type: ignore[return-value]


def _until_stop(new: list[int], stop_ids, max_new_tokens: int) -> list[int]:
    """The server may go on past a stop id it does not know of: the tokens up to and including the
    first stop id, and at most ``max_new_tokens`` of them (token ids, not a value: values are cut
    with trace.format.cut_value)."""
    for k, t in enumerate(new):
        if t in stop_ids:
            new = new[: k + 1]
            break
    return new[:max_new_tokens]


class HttpPredictor(Predictor):
    """A model served over HTTP (Meta's /completions or vLLM's /v1/completions)."""

    def __init__(self, url: str, tokenizer, timeout: float = DEFAULT_TIMEOUT_S, model_name: str | None = None,
                 api_key: str | None = None, retries: int = RETRIES, backoff: float = BACKOFF_S):
        self.client = HttpClient(url, timeout, api_key=api_key, retries=retries, backoff=backoff)
        self.tokenizer = tokenizer
        self.model_name = model_name  # vLLM's --served-model-name; None leaves "model" out (vLLM then serves its one model)
        self.name = f"http ({self.client.contract}) {self.client.endpoint}"

    def close(self) -> None:
        self.client.close()

    @functools.cached_property
    def context_limit(self) -> int | None:
        """The served model's context (vLLM's ``max_model_len`` in ``GET /v1/models``; asked once):
        sessions and teacher forcing keep inside it, as they do inside a local model's. None when
        the server does not say (Meta's contract)."""
        if self.client.contract != "vllm":
            return None
        listing = self.client.get_json("/models")
        models = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(models, list):
            return None
        ours = [m for m in models if isinstance(m, dict) and m.get("id") == self.model_name] or models[:1]
        limit = ours[0].get("max_model_len") if ours and isinstance(ours[0], dict) else None
        return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None

    def open(self, prompt_ids: Sequence[int]) -> HttpState:
        return HttpState(self, prompt_ids)

    @property
    def gives_logprobs(self) -> bool:
        """vLLM's contract gives logprobs (until a reply has none); Meta's none (said once, on
        stderr, after its first answer)."""
        return self.client.contract == "vllm" and not self._said_no_logprobs

    _said_no_logprobs = False

    def _no_logprobs(self) -> None:
        """Say once that this server gives no logprobs, so frames show no confidence."""
        if not self._said_no_logprobs:
            self._said_no_logprobs = True
            print(f"neurodebug: The model server at {self.client.endpoint} gives no log-probabilities, so predicted "
                  "frames show no confidence.", file=sys.stderr, flush=True)

    def complete(self, ids: list[int], max_tokens: int, stop_ids: list[int], temperature: float,
                 top_p: float, seed: int | None, scores: _Scores | None = None) -> list[int]:
        endpoint = self.client.endpoint
        if self.client.contract == "meta":
            # Meta's server takes one stop *string*; its generator also stops on end-of-text.
            frame_sep = self.tokenizer.special_id("<|frame_sep|>")
            body: dict[str, Any] = {"prompt": list(ids), "max_tokens": max_tokens,
                                    "temperature": temperature, "top_p": top_p}
            if frame_sep in stop_ids:
                body["stop"] = "<|frame_sep|>"
            if seed is not None:
                body["seed"] = seed
            reply = self.client.post(body)
            tokens = _int_list(_choice(reply, endpoint).get("tokens"))
            if tokens is None:
                raise UserError(f"The model server at {endpoint} replied without a list of token ids in choices[0].tokens.")
            return tokens
        return self._vllm_tokens({"prompt": list(ids), "max_tokens": max_tokens, "temperature": temperature,
                                  "top_p": top_p, "stop_token_ids": list(stop_ids)}, seed, scores)

    def _vllm_tokens(self, body: dict[str, Any], seed: int | None, scores: _Scores | None = None) -> list[int]:
        """POST a vLLM completion request; the generated ids, a stop token vLLM reports apart
        (``stop_reason``) appended; with ``scores``, the reply's logprobs go to it."""
        body = {**body, "return_token_ids": True, "skip_special_tokens": False}
        if scores is not None:
            body.update(logprobs=LOGPROBS, return_tokens_as_token_ids=True)
        if self.model_name:
            body["model"] = self.model_name
        if seed is not None:
            body["seed"] = seed
        choice = _choice(self.client.post(body), self.client.endpoint)
        tokens = _int_list(choice.get("token_ids"))
        if tokens is None:
            raise UserError(f"The model server at {self.client.endpoint} replied without choices[0].token_ids; "
                            "it needs vLLM 0.10.2 or later (return_token_ids).")
        stop = choice.get("stop_reason")
        if isinstance(stop, int) and not isinstance(stop, bool) and (not tokens or tokens[-1] != stop):
            tokens.append(stop)
        if scores is not None:
            steps = _steps(choice.get("logprobs"))
            if steps is None:
                self._no_logprobs()
            scores.reply(tokens, steps)
        return tokens

    def choose(self, ids: Sequence[int], allowed: list[int], temperature: float, top_p: float,
               seed: int | None, scores: _Scores | None = None) -> int:
        """The next token after ``ids`` among ``allowed`` (vLLM's ``allowed_token_ids``; one request)."""
        endpoint = self.client.endpoint
        if self.client.contract == "meta":
            raise UserError("Restricting the model's next token needs vLLM's allowed_token_ids, which Meta's "
                            "/completions contract does not have; use a /v1 (vLLM) URL or --backend local.")
        tokens = self._vllm_tokens({"prompt": list(ids), "max_tokens": 1, "temperature": temperature, "top_p": top_p,
                                    "allowed_token_ids": list(allowed), "ignore_eos": True}, seed, scores)
        if not tokens:
            raise UserError(f"The model server at {endpoint} replied with no token.")
        if tokens[0] not in set(allowed):
            raise UserError(f"The model server at {endpoint} ignored allowed_token_ids (it chose token {tokens[0]}); "
                            "constrained decoding needs vLLM's allowed_token_ids, or pass --no-constrain.")
        return tokens[0]

    #: False once the server refused to name tokens both ways (it can neither name them nor
    #: restrict to them): tokens its top ones cannot score then stay unscored
    scores_exactly = True
    #: False once the server refused ``logprob_token_ids`` (vLLM before 0.32): tokens are then
    #: asked for one by one
    names_tokens = True

    def resolve(self, scores: _Scores) -> None:
        """Score exactly what the top logprobs could not (``_Scores.resolve``); a server that
        refuses it leaves those tokens unscored, and is not asked again."""
        try:
            scores.resolve(self.logprobs_of, EXACT_UNNAMED if self.names_tokens else EXACT_UNNAMED_ONE_BY_ONE)
        except UserError:
            self.scores_exactly = False
            scores.unresolved = []

    def logprobs_of(self, ids: Sequence[int], tokens: list[int]) -> dict[int, float] | None:
        """The model's log-probability of each of ``tokens`` after ``ids``: named in
        ``logprob_token_ids`` (``NAMED_PER_REQUEST`` to a request), or, from a server without that
        field, one request per token for at most ``EXACT_UNNAMED_ONE_BY_ONE`` of them; None when a
        reply lacks one, or there are too many to ask one by one."""
        if self.names_tokens:
            try:
                return self._named_logprobs(ids, tokens)
            except UserError:
                self.names_tokens = False
        if len(tokens) > EXACT_UNNAMED_ONE_BY_ONE:
            return None
        out = {t: self.logprob_of(ids, t) for t in tokens}
        return None if None in out.values() else out  # type: ignore[return-value]

    def _named_logprobs(self, ids: Sequence[int], tokens: list[int]) -> dict[int, float]:
        """``logprobs_of`` by vLLM's ``logprob_token_ids``: one token generated after ``ids``,
        whose logprobs name the given tokens. A reply that does not name them all (a server that
        ignores the field, as vLLM ignores fields it does not know) is a UserError."""
        out: dict[int, float] = {}
        for at in range(0, len(tokens), NAMED_PER_REQUEST):
            chunk = tokens[at:at + NAMED_PER_REQUEST]
            scores = _Scores(1.0)
            self._vllm_tokens({"prompt": list(ids), "max_tokens": 1, "temperature": 0.0, "logprob_token_ids": chunk,
                               "ignore_eos": True}, None, scores)
            named = scores.pending[0][1][1] if scores.pending and scores.pending[0][1] else {}
            if not set(chunk) <= named.keys():
                raise UserError(f"The model server at {self.client.endpoint} did not name the logprob_token_ids asked for.")
            out.update((t, named[t]) for t in chunk)
        return out

    def logprob_of(self, ids: Sequence[int], token: int) -> float | None:
        """The model's log-probability of ``token`` after ``ids`` (one request restricted to it:
        vLLM's logprobs are of the distribution before the restriction); None when the reply has
        none."""
        scores = _Scores(1.0)
        self.choose(ids, [token], 0.0, 1.0, None, scores)
        step = scores.pending[0][1] if scores.pending else None
        return None if step is None else step[0]

    def greedy_argmax(self, ids: Sequence[int]) -> list[int]:
        """The top token after every prefix, from vLLM's prompt_logprobs (one request)."""
        endpoint = self.client.endpoint
        if self.client.contract == "meta":
            raise UserError("Teacher-forced scoring needs the model's choice at every position, which Meta's "
                            "/completions contract does not return; use a /v1 (vLLM) URL or --backend local.")
        body: dict[str, Any] = {"prompt": list(ids), "max_tokens": 1, "temperature": 0.0,
                                "prompt_logprobs": 1, "return_token_ids": True, "skip_special_tokens": False}
        if self.model_name:
            body["model"] = self.model_name
        choice = _choice(self.client.post(body), endpoint)
        plp = choice.get("prompt_logprobs")
        first = _int_list(choice.get("token_ids"))
        if not isinstance(plp, list) or len(plp) != len(ids) or not first:
            raise UserError(f"The model server at {endpoint} replied without prompt_logprobs for every prompt token.")
        out: list[int] = []
        # plp[p] describes token p given ids[:p]: its top-1 entry is the greedy choice after ids[:p]
        for p in range(1, len(ids)):
            entry = plp[p]
            if not isinstance(entry, dict) or not entry:
                raise UserError(f"The model server at {endpoint} replied with a malformed prompt_logprobs entry.")
            out.append(_top_token(entry))
        out.append(first[0])
        return out


def _steps(logprobs: Any) -> list[tuple[float, dict[int, float]]] | None:
    """Per generated token of an OpenAI completions ``logprobs`` object with token-id names
    (``return_tokens_as_token_ids``): (its logprob, {id: logprob} of the top tokens); None when
    the reply has none or they cannot be read."""
    if not isinstance(logprobs, dict):
        return None
    chosen, tops = logprobs.get("token_logprobs"), logprobs.get("top_logprobs")
    if not isinstance(chosen, list) or not isinstance(tops, list) or len(chosen) != len(tops):
        return None
    try:
        return [(float(lp), {int(str(k).rsplit(":", 1)[-1]): float(v) for k, v in (top or {}).items()})
                for lp, top in zip(chosen, tops)]
    except (TypeError, ValueError):
        return None


def _top_token(entry: dict[str, Any]) -> int:
    """The token of rank 1 in one vLLM prompt_logprobs entry {token_id: {logprob, rank, ...}}."""
    best, best_key = None, None
    for k, v in entry.items():
        rank = v.get("rank") if isinstance(v, dict) else None
        lp = v.get("logprob") if isinstance(v, dict) else v
        key = (0, rank) if rank is not None else (1, -float(lp))
        if best_key is None or key < best_key:
            best, best_key = int(k), key
    return best  # type: ignore[return-value]

"""The request schemas of `neurodebug serve`, as pydantic models (the library vLLM's own server
validates the same requests with), and the one sentence a client gets for a request they reject.

Every model forbids unknown fields (a misspelt option must not be ignored) and is strict (``true``
is not a number, ``"1"`` not a token id). What depends on the model -- token ids inside its
vocabulary, a prompt inside its context -- is checked from the validation context
``{"vocab_size": int, "context_limit": int | None}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

#: The most ``logprobs`` a request may ask for (vLLM's default ``max_logprobs``).
MAX_LOGPROBS = 20
#: The most ``logprob_token_ids`` a request may name (vLLM's ``MAX_LOGPROB_TOKEN_IDS``).
MAX_LOGPROB_TOKEN_IDS = 128
#: The most choices one request may ask for.
MAX_N = 8

TokenId = Annotated[int, Field(ge=0)]
Logprobs = Annotated[int, Field(ge=0, le=MAX_LOGPROBS)]


class _Completion(BaseModel):
    """What both contracts share: a prompt (token ids or text), sampling, stops."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str | list[int] | list[list[int]]
    model: str | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    min_tokens: Annotated[int, Field(ge=0)] = 0
    temperature: Annotated[float, Field(ge=0, le=100)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 1
    stop: str | list[str | int] | None = None
    seed: int | None = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, p, info: ValidationInfo):
        if isinstance(p, list) and p and isinstance(p[0], list):
            if len(p) != 1:
                raise ValueError("prompt may hold one token-id prompt, not a batch of them")
            p = p[0]
        if not p:
            raise ValueError("prompt is empty")
        if isinstance(p, list):
            _check_ids("prompt", p, info)
            limit = (info.context or {}).get("context_limit")
            if limit and len(p) >= limit:
                raise ValueError(f"The prompt has {len(p)} tokens; this model's context limit is {limit}")
        return p


class MetaRequest(_Completion):
    """Meta's CWM server (``serve/fgserve.py``): ``POST /completions``."""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    include_usage: bool = False
    continuous_usage_stats: bool = False


class VllmRequest(_Completion):
    """vLLM's OpenAI-style ``POST /v1/completions`` (the fields this server honours, and the
    OpenAI ones it accepts at their neutral value)."""

    top_k: int | None = None
    stop_token_ids: list[TokenId] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    echo: bool = False
    logprobs: Logprobs | None = None
    prompt_logprobs: Logprobs | None = None
    return_token_ids: bool = False
    skip_special_tokens: bool = True
    include_stop_str_in_output: bool = False
    ignore_eos: bool = False
    user: str | None = None
    best_of: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    spaces_between_special_tokens: bool = True
    return_tokens_as_token_ids: bool = False
    allowed_token_ids: Annotated[list[TokenId], Field(min_length=1)] | None = None
    #: the tokens whose logprobs each generated token reports instead of the top ones (vLLM 0.32)
    logprob_token_ids: Annotated[list[TokenId], Field(min_length=1, max_length=MAX_LOGPROB_TOKEN_IDS)] | None = None

    @field_validator("stop_token_ids", "allowed_token_ids", "logprob_token_ids")
    @classmethod
    def _in_vocab(cls, ids, info: ValidationInfo):
        if ids is not None:
            _check_ids(info.field_name, ids, info)
        return ids

    @model_validator(mode="after")
    def _supported(self):
        """Options this server does not implement are refused unless at their neutral value."""
        neutral = {"echo": False, "best_of": 1, "presence_penalty": 0.0, "frequency_penalty": 0.0,
                   "repetition_penalty": 1.0, "top_k": -1}
        for name, value in neutral.items():
            given = getattr(self, name)
            if given is not None and given != value and not (name == "top_k" and given == 0):
                raise ValueError(f"{name} is not supported by this server (leave it out)")
        if self.logprob_token_ids is not None and self.logprobs is None:
            raise ValueError("logprob_token_ids needs logprobs set as well")
        if self.stream and (self.logprobs is not None or self.prompt_logprobs is not None):
            raise ValueError("logprobs and prompt_logprobs are not streamed by this server; send stream: false")
        return self


def _check_ids(name: str, ids: list[int], info: ValidationInfo) -> None:
    vocab = (info.context or {}).get("vocab_size") or 0
    for t in ids:
        if t < 0 or (vocab and t >= vocab):
            raise ValueError(f"{name} holds {t!r}, which is not a token id of this model (0..{vocab - 1})")


#: Fields whose type is a union: pydantic reports every alternative, so they get one sentence.
_UNION_FIELDS = {
    "prompt": "prompt must be a string or a list of token ids.",
    "stop": "stop must be a string or a list of strings.",
}


def error_sentence(e: ValidationError, path: str) -> tuple[str, str | None]:
    """(one sentence for the client, the field it is about) for the first thing wrong in a request."""
    err = e.errors(include_url=False)[0]
    loc = [str(x) for x in err["loc"]]
    name = loc[0] if loc else None
    kind, msg = err["type"], err["msg"]
    if kind == "json_invalid":
        return "The request body is not valid JSON.", None
    if kind in ("model_type", "dict_type") and not loc:
        return "The request body must be a JSON object.", None
    if kind == "extra_forbidden":
        return f"Unknown field {name!r} for {path}.", name
    if kind == "missing":
        return f"{name} is required.", name
    if kind == "value_error":
        text = str(err.get("ctx", {}).get("error", msg.removeprefix("Value error, ")))
        return text.rstrip(".") + ".", name
    if name in _UNION_FIELDS:
        return _UNION_FIELDS[name], name
    field = ".".join(x for x in loc if not x.isdigit()) or "the request"
    return f"{field}: {msg[0].lower() + msg[1:]}.", name


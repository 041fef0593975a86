"""What else the model would have written for a predicted value, and how likely each was.

For the value of a local in a predicted frame, the model's state is put back at the value's
token the model was least sure of (where its doubt is: ``'r'`` or ``'s'`` differ in one token);
its ``k`` most likely tokens there each start an alternative, which greedy decoding completes to
the end of the value's JSON string. An alternative's probability is that of the value's tokens
before that point, times its own token's, times its greedy completion's, under the model's own
distribution (the constraints of decoding are not applied: they allow any value). The value the model wrote is among them
when it is that likely; a branch that writes ``..`` (unchanged) or another name is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from neurodebug.confidence import _char_offsets, _value_spans
from neurodebug.errors import UserError

#: Tokens one alternative may take to close its JSON string before it is given up.
MAX_VALUE_TOKENS = 64
#: Alternatives less likely than this are not worth showing.
MIN_PROBABILITY = 1e-3


@dataclass(frozen=True)
class Alternative:
    value: str  # the value's text (a repr, or ".." for "unchanged")
    probability: float


def value_tokens(decode, locals_ids: Sequence[int], name: str) -> range:
    """The tokens of a frame's LOCALS tokens that write any of the JSON string of ``name``'s
    value; UserError when the frame writes no value for ``name``."""
    ids = list(locals_ids)
    spans = _value_spans(decode(ids))
    if name not in spans:
        raise UserError(f"The frame writes no value of {name} to find alternatives to.")
    a, b = spans[name]
    offsets = _char_offsets(decode, ids)
    return range(next(i for i in range(len(ids)) if offsets[i + 1] > a),
                 next(i for i in range(len(ids)) if offsets[i + 1] >= b) + 1)


def _doubt(predictor, prefix: list[int], locals_ids: list[int], tokens: range) -> tuple[int, float]:
    """(the value's token the model gave the least probability, the log-probability of the
    value's tokens before it), from one scoring pass; the first token where none is given."""
    if not predictor.supports_prompt_logprobs:
        return tokens.start, 0.0
    scored = predictor.prompt_logprobs(prefix + locals_ids[:tokens.stop])
    own = {j: scored[len(prefix) + j - 1][2] for j in tokens}  # entry p scores the token at p + 1
    branch = min(tokens, key=lambda j: own[j])
    return branch, sum(own[j] for j in range(tokens.start, branch))


def alternatives(predictor, decode, prefix: Sequence[int], locals_ids: Sequence[int], name: str,
                 k: int = 3) -> list[Alternative]:
    """The ``k`` most likely values of ``name`` given ``prefix`` (the ids before the frame's
    LOCALS: the prompt, the frames before, the event token), most likely first."""
    prefix, locals_ids = list(prefix), list(locals_ids)
    t, before = _doubt(predictor, prefix, locals_ids, value_tokens(decode, locals_ids, name))
    context = prefix + locals_ids[:t]
    head = decode(locals_ids[:t])
    state = predictor.open(context)
    if not state.gives_top_tokens:
        raise UserError("This model's backend gives no alternatives (it returns no top tokens).")
    _, steps = state.generate_logprobs(1, k)
    found: dict[str, float] = {}
    for token, logprob in steps[0][1] if steps else []:
        state.truncate(len(context))
        state.extend([token])
        value, tail = _complete(state, decode, head, name, token)
        if value is not None:
            found[value] = found.get(value, 0.0) + math.exp(before + logprob + tail)
    ranked = sorted(found.items(), key=lambda kv: -kv[1])
    return [Alternative(v, p) for v, p in ranked if p >= MIN_PROBABILITY]


def _complete(state, decode, head: str, name: str, token: int) -> tuple[str | None, float]:
    """Greedy tokens after ``token`` until the value's JSON string closes: (the value, the
    log-probability of those tokens); (None, 0) when it does not close within MAX_VALUE_TOKENS."""
    written = [token]
    logprob = 0.0
    value = _read_value(head + decode(written), name)
    while value is None and len(written) <= MAX_VALUE_TOKENS:
        new, steps = state.generate_logprobs(1, 0)
        if not new:
            break
        written += new
        logprob += steps[0][0]
        value = _read_value(head + decode(written), name)
    return value, logprob


def _read_value(text: str, name: str) -> str | None:
    """The value of ``name`` in a LOCALS text written so far, once its JSON string is closed."""
    import json

    span = _value_spans(text).get(name)
    return json.loads(text[span[0]:span[1]]) if span is not None else None

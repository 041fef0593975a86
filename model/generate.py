"""Choosing the next token from logits: greedy, or temperature + top-p with a seeded generator, among
the ids a constraint allows (``restrict_logits``)."""

from __future__ import annotations

import torch


def make_generator(seed: int | None, device) -> torch.Generator | None:
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def sample(logits: torch.Tensor, temperature: float = 0.0, top_p: float = 1.0, generator=None) -> int:
    """One token id from float logits [V]: argmax when temperature is 0, else a draw from the
    smallest set of most likely tokens whose probability reaches top_p."""
    if temperature <= 0.0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = _nucleus(probs, top_p)
        choice = torch.multinomial(sorted_p, 1, generator=generator)
        return int(order[choice])
    return int(torch.multinomial(probs, 1, generator=generator))


def _nucleus(probs: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities sorted in descending order with the tail past top_p zeroed, their ids)."""
    sorted_p, order = torch.sort(probs, descending=True)
    # Drop a token when the tokens ranked before it already reach top_p (the first always stays).
    drop = (torch.cumsum(sorted_p, dim=-1) - sorted_p) >= top_p
    return sorted_p.masked_fill(drop, 0.0), order


def probabilities(logits: torch.Tensor, temperature: float, top_p: float = 1.0) -> torch.Tensor:
    """The distribution [V] that ``sample`` draws from at temperature > 0 (top-p applied,
    renormalised): what speculative sampling's acceptance rule compares a draft against."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = _nucleus(probs, top_p)
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_p)
        probs = probs / probs.sum()
    return probs


def restrict_logits(logits: torch.Tensor, allowed) -> torch.Tensor:
    """``logits`` [V] with every id outside ``allowed`` set to -inf (a new tensor; the input is
    not changed). ``allowed`` None, empty, or with no finite logit among its ids in range leaves
    the logits as they are: a constraint never leaves nothing to choose."""
    if allowed is None:
        return logits
    idx = _index(allowed, logits.shape[-1], logits.device)
    if idx.numel() == 0:
        return logits
    vals = logits[idx]
    if not bool(torch.isfinite(vals).any()):
        return logits
    out = torch.full_like(logits, float("-inf"))
    out[idx] = vals
    return out


def choice_logprob(logits: torch.Tensor, allowed, token: int, temperature: float = 1.0) -> float:
    """The log-probability of ``token`` under the distribution decoding chose it from: ``logits``
    restricted to ``allowed`` as ``restrict_logits`` restricts them (renormalised over the
    allowed ids), at ``temperature`` (1 for greedy decoding). Computed over the allowed ids only,
    so that it costs a gather, not a second copy of the vocabulary."""
    t = temperature if temperature > 0.0 else 1.0
    scores = logits.float()
    if allowed is not None:
        idx = _index(allowed, logits.shape[-1], logits.device)
        if idx.numel() and bool(torch.isfinite(scores[idx]).any()):
            scores = scores[idx]
    return float(logits[token].float() / t - torch.logsumexp(scores / t, -1))


#: Index tensors of recent immutable answers of a constraint, by identity (the answer kept alive
#: with its tensor): a constraint answers from a few cached tuples, and turning a tuple of 128k
#: ids into a tensor at every step costs more than the rest of the step on a small model.
_INDEX: dict[int, tuple[object, int, object, torch.Tensor]] = {}


def _index(allowed, vocab: int, device) -> torch.Tensor:
    """The ids of ``allowed`` inside the vocabulary, as a long tensor on ``device``."""
    hit = _INDEX.get(id(allowed))
    if hit is not None and hit[0] is allowed and hit[1] == vocab and hit[2] == device:
        return hit[3]
    idx = torch.as_tensor(allowed, dtype=torch.long).reshape(-1)
    idx = idx[(idx >= 0) & (idx < vocab)].to(device)
    if isinstance(allowed, tuple):
        if len(_INDEX) >= 64:
            _INDEX.clear()
        _INDEX[id(allowed)] = (allowed, vocab, device, idx)
    return idx

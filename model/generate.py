"""Choosing the next token from logits: greedy, or temperature + top-p with a seeded generator."""

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

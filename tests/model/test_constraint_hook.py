"""The runtime's constrained-decoding hook: Sequence.generate/stream(constraint=...)."""

from __future__ import annotations

import pytest
import torch
from neurodebug.model.runtime import restrict_logits


def ids(n, seed=0):
    return torch.randint(0, 128000, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


class Fixed:
    """Allows a fixed set of ids (or answers None / raises nothing) and records what it was shown."""

    def __init__(self, allowed):
        self.value = allowed
        self.shown: list[list[int]] = []

    def allowed(self, generated):
        self.shown.append(list(generated))
        return self.value


@pytest.mark.parametrize("temperature,top_p", [(0.0, 1.0), (1.0, 1.0), (0.9, 0.8)])
def test_generation_keeps_to_the_allowed_ids(cwm_model, temperature, top_p):
    allowed = [11, 500, 4242, 90001]
    c = Fixed(allowed)
    out = cwm_model.generate(ids(10, 1), 12, temperature=temperature, top_p=top_p, seed=4, constraint=c)
    assert len(out) == 12 and set(out) <= set(allowed)
    # asked before every step with this call's tokens so far
    assert c.shown == [out[:k] for k in range(12)]


def test_greedy_takes_the_best_allowed_token(cwm_model):
    prompt = ids(10, 2)
    logits = cwm_model.logits(prompt)[-1]
    order = torch.argsort(logits, descending=True).tolist()
    allowed = [order[7], order[3], order[50]]
    out = cwm_model.generate(prompt, 1, constraint=Fixed(allowed))
    assert out == [order[3]]


@pytest.mark.parametrize("answer", [None, [], [-1, 10**9]])
def test_no_answer_or_nothing_usable_is_unconstrained(cwm_model, answer):
    prompt = ids(9, 3)
    for kw in ({}, {"temperature": 0.8, "top_p": 0.9, "seed": 5}):
        free = cwm_model.generate(prompt, 10, **kw)
        assert cwm_model.generate(prompt, 10, constraint=None, **kw) == free
        assert cwm_model.generate(prompt, 10, constraint=Fixed(answer), **kw) == free


def test_seeded_sampling_under_a_constraint_is_reproducible(cwm_model):
    prompt = ids(9, 4)
    allowed = list(range(1000, 1400))
    a = cwm_model.sequence(prompt).generate(16, temperature=1.0, seed=9, constraint=Fixed(allowed))
    b = list(cwm_model.sequence(prompt).stream(16, temperature=1.0, seed=9, constraint=Fixed(allowed)))
    assert a == b and set(a) <= set(allowed)


def test_restrict_logits_masks_a_copy_and_never_empties():
    x = torch.tensor([0.5, 2.0, -1.0, 3.0])
    y = restrict_logits(x, [0, 2])
    assert y.tolist() == [0.5, float("-inf"), -1.0, float("-inf")]
    assert x.tolist() == [0.5, 2.0, -1.0, 3.0]
    assert restrict_logits(x, None) is x and restrict_logits(x, []) is x and restrict_logits(x, (7,)) is x
    z = torch.tensor([float("-inf"), 1.0])
    assert restrict_logits(z, [0]) is z  # only -inf left: unconstrained

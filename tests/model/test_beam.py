"""Beam search over one continuation: Sequence.beam (model/runtime.py)."""

from __future__ import annotations

import itertools

import torch
from neurodebug.model.runtime import restrict_logits


def ids(n, seed=0):
    return torch.randint(0, 128000, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


class Fixed:
    def __init__(self, allowed):
        self.value = allowed

    def allowed(self, generated):
        return self.value


def _logprob(model, prompt, cont, allowed=None) -> float:
    """Total log-probability of ``cont`` after ``prompt``, each step renormalized over ``allowed``."""
    total = 0.0
    for k, tok in enumerate(cont):
        logits = model.logits(prompt + cont[:k])[-1]
        logits = restrict_logits(logits, allowed)
        total += torch.log_softmax(logits.float(), -1)[tok].item()
    return total


def test_width_one_is_greedy(cwm_model):
    prompt = ids(10, 1)
    greedy = cwm_model.sequence(prompt).generate(8)
    assert cwm_model.sequence(prompt).beam(1, 8) == greedy


def test_the_beam_finds_the_most_likely_continuation(cwm_model):
    prompt = ids(8, 2)
    logits = cwm_model.logits(prompt)[-1]
    order = torch.argsort(logits, descending=True).tolist()
    allowed = [order[0], order[1], order[5]]
    stop = order[5]
    # every continuation of up to 3 tokens over the allowed ids, ended by the stop id or the length
    best, best_lp = None, float("-inf")
    for n in (1, 2, 3):
        for cont in itertools.product(allowed, repeat=n):
            cont = list(cont)
            if stop in cont[:-1] or (n < 3 and cont[-1] != stop):
                continue
            lp = _logprob(cwm_model, prompt, cont, allowed)
            if lp > best_lp:
                best, best_lp = cont, lp
    got = cwm_model.sequence(prompt).beam(27, 3, stop_ids=[stop], constraint=lambda: Fixed(allowed))
    assert got == best
    greedy = cwm_model.sequence(prompt).generate(3, stop_ids=[stop], constraint=Fixed(allowed))
    assert _logprob(cwm_model, prompt, got, allowed) >= _logprob(cwm_model, prompt, greedy, allowed) - 1e-5


def test_the_sequence_goes_on_from_the_winner(cwm_model):
    prompt = ids(9, 3)
    seq = cwm_model.sequence(prompt)
    out = seq.beam(3, 6)
    assert len(out) == 6 and seq.ids == prompt + out
    nxt = ids(2, 4)
    got = seq.extend(nxt, logits="last")
    want = cwm_model.logits(prompt + out + nxt)[-1]
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_each_hypothesis_gets_its_own_hook(cwm_model):
    made = []

    class Recording(Fixed):
        def __init__(self):
            super().__init__(list(range(2000, 2010)))
            self.shown = []
            made.append(self)

        def allowed(self, generated):
            self.shown.append(list(generated))
            return self.value

    out = cwm_model.sequence(ids(7, 5)).beam(3, 5, constraint=Recording)
    assert set(out) <= set(range(2000, 2010))
    assert len(made) > 1
    for hook in made:  # a hook is shown one hypothesis, growing by a token at a time
        for a, b in zip(hook.shown, hook.shown[1:]):
            assert b[: len(a)] == a and len(b) == len(a) + 1

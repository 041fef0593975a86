"""The log-probabilities a local state gives with its tokens (what frames' confidence is made of)
against a plain softmax of the reference forward pass, masked to what the constraint allowed."""

from __future__ import annotations

import pytest
import torch
from neurodebug.backends.local import LocalPredictor
from neurodebug.model.lookahead import Lookahead

from tests.model.test_lookahead import Recorder, repetitive


def reference_logprobs(model, prompt, got, rule, temperature=1.0):
    """Each token's log-probability from a full forward without a cache, masked and renormalised
    over the ids ``rule`` allows (all when None), at ``temperature``."""
    out = []
    for k, tok in enumerate(got):
        logits = model.logits(prompt + got[:k])[-1] / temperature
        allowed = rule(got[:k])
        if allowed is not None:
            mask = torch.full_like(logits, float("-inf"))
            mask[list(allowed)] = 0.0
            logits = logits + mask
        out.append(float(torch.log_softmax(logits, -1)[tok]))
    return out


def rule_with_forced_runs(prompt):
    """Two free steps among a few allowed ids, then one forced id, and again."""
    allowed = sorted(set(prompt))[:5] + [11, 12]

    def rule(read):
        return [allowed[0]] if len(read) % 3 == 2 else allowed

    return rule


@pytest.mark.parametrize("lookahead", [None, Lookahead(), Lookahead(draft=0)], ids=["one-per-token", "drafts", "jump-only"])
def test_greedy_logprobs_are_the_masked_softmax_of_the_reference_forward(cwm_model, lookahead):
    prompt = repetitive(seed=11)
    rule = rule_with_forced_runs(prompt)
    state = LocalPredictor.from_runtime(cwm_model, lookahead=lookahead).open(prompt)
    logprobs: list[float] = []
    got = state.generate(18, constraint=Recorder(rule), logprobs=logprobs)
    assert len(logprobs) == len(got) == 18
    want = reference_logprobs(cwm_model, prompt, got, rule)
    assert logprobs == pytest.approx(want, abs=1e-4)
    assert [lp for k, lp in enumerate(logprobs) if k % 3 == 2] == [0.0] * 6  # forced: probability 1
    assert min(logprobs) < -0.01  # the free ones are not all certain


def test_sampled_logprobs_are_at_the_sampling_temperature(cwm_model):
    prompt = repetitive(seed=12)
    rule = rule_with_forced_runs(prompt)
    state = LocalPredictor.from_runtime(cwm_model).open(prompt)
    logprobs: list[float] = []
    got = state.generate(12, temperature=0.7, seed=3, constraint=Recorder(rule), logprobs=logprobs)
    assert logprobs == pytest.approx(reference_logprobs(cwm_model, prompt, got, rule, temperature=0.7), abs=1e-4)


def test_unconstrained_logprobs_and_nothing_asked(cwm_model):
    prompt = repetitive(seed=13)
    state = LocalPredictor.from_runtime(cwm_model).open(prompt)
    logprobs: list[float] = []
    got = state.generate(10, logprobs=logprobs)
    assert logprobs == pytest.approx(reference_logprobs(cwm_model, prompt, got, lambda read: None), abs=1e-4)
    plain = LocalPredictor.from_runtime(cwm_model).open(prompt).generate(10)
    assert plain == got  # asking for them changes no token


def test_beam_logprobs_are_the_winners_masked_softmax(cwm_model):
    prompt = repetitive(seed=14)
    rule = rule_with_forced_runs(prompt)
    state = LocalPredictor.from_runtime(cwm_model).open(prompt)
    logprobs: list[float] = []
    got = state.beam(3, 9, constraint=lambda: Recorder(rule), logprobs=logprobs)
    assert len(got) == 9
    assert logprobs == pytest.approx(reference_logprobs(cwm_model, prompt, got, rule), abs=1e-4)

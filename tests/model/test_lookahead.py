"""Jump-forward and prompt-lookup speculation (model/lookahead.py): the same greedy tokens as one
forward per token, in fewer forwards; at temperature > 0 the model's distribution, checked
statistically on a tiny model."""

from __future__ import annotations

import pytest
import torch
from neurodebug.model.generate import probabilities
from neurodebug.model.lookahead import (
    Lookahead,
    PromptLookup,
    _Decide,
    _Link,
    forced_run,
)
from neurodebug.model.runtime import restrict_logits

LA = Lookahead()


def chisquare_pvalue(observed: torch.Tensor, expected: torch.Tensor) -> float:
    """Pearson's chi-square test of observed counts against expected ones (k cells, k - 1 degrees
    of freedom): P(X >= statistic), the regularized upper incomplete gamma Q(df / 2, statistic / 2)."""
    observed, expected = observed.double(), expected.double()
    statistic = ((observed - expected) ** 2 / expected).sum()
    df = torch.tensor(observed.numel() - 1, dtype=torch.float64)
    return torch.special.gammaincc(df / 2, statistic / 2).item()


def repetitive(n_unique=12, repeats=4, seed=0):
    """A prompt that repeats itself (what prompt lookup feeds on), in the 128k vocabulary."""
    base = torch.randint(0, 128000, (n_unique,), generator=torch.Generator().manual_seed(seed)).tolist()
    return base * repeats + base[:5]


class Recorder:
    """A constraint that reads the ids incrementally, as FrameConstraint does, and checks that what
    it was shown is consistent: every answer must be the one for the list it is given."""

    def __init__(self, rule):
        self.rule = rule  # list of ids so far -> allowed (or None)
        self.read: list[int] = []

    def allowed(self, generated):
        if len(generated) < len(self.read) or (self.read and generated[len(self.read) - 1] != self.read[-1]):
            self.read = []  # cut back: start over (the protocol of model/runtime.py)
        self.read += list(generated[len(self.read):])
        assert self.read == list(generated)
        return self.rule(self.read)


def test_prompt_lookup_proposes_what_followed_the_longest_match():
    lk = PromptLookup([1, 2, 3, 9, 1, 2, 3, 4, 5, 7, 1, 2, 3], max_ngram=4, min_ngram=1)
    assert lk.propose() == 4  # "1 2 3" last seen before 4 (the most recent occurrence)
    lk.push(4)
    assert lk.propose() == 5  # the match goes on
    lk.push(6)  # a token the match did not predict: looked up again ("6" never seen)
    assert lk.propose() is None
    lk.cut(13)
    assert lk.propose() == 4
    # a hit that is not aligned to a token (bytes of two tokens) is not a match
    assert PromptLookup([0x0100, 0x0200, 0x01, 0x02], min_ngram=1).propose() is None


def test_greedy_is_the_same_token_for_token_in_fewer_forwards(cwm_model):
    prompt = repetitive()
    ref, fast = cwm_model.sequence(prompt), cwm_model.sequence(prompt)
    want = ref.generate(40)
    got = fast.generate(40, lookahead=LA)
    assert got == want and fast.ids == ref.ids
    assert fast.forwards <= ref.forwards
    # the caches agree afterwards: the next logits are the same
    assert torch.allclose(fast.extend([5], logits="last"), ref.extend([5], logits="last"), atol=1e-4)


def test_speculation_keeps_the_cache_right_after_rejected_drafts(cwm_model):
    """A prompt whose repeats the model will not follow: drafts are rejected and rolled back,
    and every later step still sees the right keys (a long run past the window of 16)."""
    prompt = repetitive(n_unique=7, repeats=6, seed=3)
    ref, fast = cwm_model.sequence(prompt), cwm_model.sequence(prompt)
    want = ref.generate(60)
    got = fast.generate(60, lookahead=Lookahead(draft=5, min_ngram=1))
    assert got == want
    assert fast.tokens_run > ref.tokens_run  # drafts were tried and some rolled back


def test_forced_tokens_cost_no_forward_of_their_own(cwm_model):
    prompt = repetitive(seed=5)
    forced = [101, 202, 303]

    def rule(read):  # after any 2 free tokens, 3 forced ones, then free, and so on
        k = len(read) % 5
        return [forced[k - 2]] if k >= 2 else None

    ref, fast = cwm_model.sequence(prompt), cwm_model.sequence(prompt)
    want = ref.generate(20, constraint=Recorder(rule))
    got = fast.generate(20, constraint=Recorder(rule), lookahead=Lookahead(draft=0))
    assert got == want and ref.forwards - 1 == 20 - 1  # one per token (the prompt's was the first)
    # the 12 forced ones after the first position ride along with the next free position
    assert fast.forwards - 1 <= 20 - 12


def test_a_forced_run_to_a_stop_token_takes_no_forward(cwm_model):
    seq = cwm_model.sequence(repetitive(seed=6))
    before = seq.forwards
    stop = 128009
    got = seq.generate(10, stop_ids=[stop], constraint=Recorder(lambda read: [7, 8, stop][len(read):len(read) + 1]),
                       lookahead=LA)
    assert got == [7, 8, stop] and seq.forwards == before
    assert seq.ids[-3:] == [7, 8, stop] and seq.computed == len(seq.ids) - 3  # pending, as always


def test_drafts_under_a_constraint_that_cuts_them(cwm_model):
    """Constrained greedy with drafts: the constraint is shown lists that are cut back after a
    rejection (Recorder checks it re-reads them), and the tokens are still the same."""
    prompt = repetitive(seed=7)
    allowed = sorted(set(prompt))[:6] + [11, 12]

    def rule(read):
        return allowed if len(read) % 3 else allowed[:3]

    ref, fast = cwm_model.sequence(prompt), cwm_model.sequence(prompt)
    want = ref.generate(30, constraint=Recorder(rule))
    got = fast.generate(30, constraint=Recorder(rule), lookahead=LA)
    assert got == want


def test_on_logits_runs_one_forward_per_token(cwm_model):
    seq = cwm_model.sequence(repetitive(seed=8))
    seen = []
    seq.generate(8, on_logits=lambda logits, tok: seen.append(tok), lookahead=LA)
    assert len(seen) == 8


def test_truncate_with_the_verify_logits_recomputes_nothing(cwm_model):
    prompt = repetitive(seed=9)
    seq = cwm_model.sequence(prompt)
    rows = seq.extend([1, 2, 3, 4], logits="from_last")
    assert rows.shape[0] == 5
    seq.truncate(len(prompt) + 2, last_logits=rows[2])
    assert seq.computed == len(prompt) + 2
    ref = cwm_model.sequence(prompt + [1, 2])
    assert torch.allclose(seq.extend([9], logits="last"), ref.extend([9], logits="last"), atol=1e-4)


def test_the_acceptance_rule_keeps_the_distribution():
    """The rule alone on fixed logits: the token it yields is distributed as p (chi-square)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, generator=g) * 1.5
    allowed = [0, 2, 3, 5, 6]
    p = probabilities(restrict_logits(logits, allowed), 0.8, 0.95)
    draft = 2
    n = 3000
    counts = torch.zeros(8)
    decide = _Decide(0.8, 0.95, g)
    for _ in range(n):
        _, tok = decide.verify(logits, _Link(draft, False, allowed))
        counts[tok] += 1
    support = p > 0
    assert counts[~support].sum() == 0
    assert chisquare_pvalue(counts[support], p[support] * n) > 1e-3


@pytest.fixture(scope="module")
def tiny_vocab(tmp_path_factory):
    from neurodebug.model import load_model

    from tests.checkpoints import make_checkpoint

    path = make_checkpoint(tmp_path_factory.mktemp("spec") / "ckpt", hidden=32, layers=2, heads=2, kv_heads=1,
                           intermediate=64, vocab=12, tokenizer=False, init_std=0.6, seed=1)
    return load_model(path)


def test_speculative_sampling_keeps_the_models_distribution(tiny_vocab):
    """Two sampled tokens after a repetitive prompt (both positions drafted by prompt lookup):
    their joint frequencies over many seeds match the model's own p(t1) p(t2 | t1)."""
    m = tiny_vocab
    prompt = [3, 1, 4, 1, 5, 9, 2, 6, 3, 1, 4, 1, 5]
    V = m.config.vocab_size
    p1 = torch.softmax(m.logits(prompt)[-1], -1)
    joint = torch.stack([p1[a] * torch.softmax(m.logits(prompt + [a])[-1], -1) for a in range(V)])
    n = 1000
    counts = torch.zeros(V, V)
    for seed in range(n):
        seq = m.sequence(prompt)
        a, b = seq.generate(2, temperature=1.0, seed=seed, lookahead=Lookahead(min_ngram=1))
        counts[a, b] += 1
        assert seq.forwards <= 2  # the prompt's, then at most one for both tokens
    # the first position's draft (9: what followed "3 1 4 1 5") was kept in some runs, not in others
    assert 0 < counts[9].sum() < n
    expected = (joint * n).flatten()
    big = expected >= 5  # cells with few expected draws are pooled into one
    obs = torch.cat([counts.flatten()[big], counts.flatten()[~big].sum()[None]])
    exp = torch.cat([expected[big], expected[~big].sum()[None]])
    assert chisquare_pvalue(obs, exp * obs.sum() / exp.sum()) > 1e-3


def test_the_chi_square_p_value():
    """Against the closed forms: 1 degree of freedom erfc(sqrt(x / 2)), 2 of them exp(-x / 2)."""
    import math

    assert chisquare_pvalue(torch.tensor([10.0, 10.0]), torch.tensor([10.0, 10.0])) == 1.0
    x = (40 - 50) ** 2 / 50 * 2  # 4.0
    assert math.isclose(chisquare_pvalue(torch.tensor([40.0, 60.0]), torch.tensor([50.0, 50.0])),
                        math.erfc(math.sqrt(x / 2)), rel_tol=1e-9)
    x = (25 + 25 + 0) / 30  # 3 cells of 30 expected
    assert math.isclose(chisquare_pvalue(torch.tensor([25.0, 35.0, 30.0]), torch.tensor([30.0, 30.0, 30.0])),
                        math.exp(-x / 2), rel_tol=1e-9)


def test_forced_run_stops_at_a_free_position_or_a_stop():
    class C:
        def allowed(self, generated):
            return [[4], (5,), [6, 7]][min(len(generated) - 1, 2)]

    assert forced_run(C(), [0], stop=set(), limit=10) == [4, 5]
    assert forced_run(C(), [0], stop={5}, limit=10) == [4, 5]
    assert forced_run(C(), [0], stop=set(), limit=1) == [4]
    assert forced_run(None, [0], stop=set(), limit=10) == []


def test_a_draft_longer_than_the_ring_slack_is_still_exact(cwm_checkpoint):
    """With a prefill chunk (the sliding rings' slack) shorter than a draft, a rejected draft can
    overwrite keys a ring still needed: truncate then re-prefills, and the tokens stay the same."""
    from neurodebug.model import load_model

    m = load_model(cwm_checkpoint, chunk_size=4)
    prompt = repetitive(n_unique=9, repeats=5, seed=11)
    want = m.sequence(prompt).generate(40)
    assert m.sequence(prompt).generate(40, lookahead=Lookahead(draft=12, min_ngram=1)) == want

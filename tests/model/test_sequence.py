"""Sequences on the session checkpoint: extend, truncate, fork, generation options."""

from __future__ import annotations

import pytest
import torch
from neurodebug.model import ModelError, load_model


@pytest.fixture(scope="module")
def m(cwm_checkpoint):
    # Chunks of 4: the window-16 rings hold 20 slots and wrap within a few dozen tokens.
    return load_model(cwm_checkpoint, attention="reference", chunk_size=4)


def ids(n, seed=0):
    return torch.randint(0, 128000, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def test_extend_computes_only_new_tokens_and_matches_full_forward(m):
    x = ids(50)
    full = m.logits(x)
    seq = m.sequence(x[:30])
    assert len(seq) == 30 and seq.computed == 30
    got = seq.extend(x[30:])
    assert got.shape == (20, m.config.vocab_size)
    assert torch.allclose(got, full[30:], atol=1e-4)
    assert torch.allclose(seq.extend([], logits="last"), full[-1], atol=1e-4)
    assert seq.extend([]).shape == (0, m.config.vocab_size)


def test_generate_appends_tokens_and_stops_on_a_stop_id(m):
    prompt = ids(12, 1)
    free = m.generate(prompt, 20)
    stop = free[5]
    seq = m.sequence(prompt)
    out = seq.generate(20, stop_ids=[stop])
    assert out == free[: free.index(stop) + 1]  # the stop token is included, then it stops
    assert seq.ids == prompt + out
    assert seq.computed == len(seq) - 1  # the last token is pending: nothing was spent on it
    # Extending after generation computes the pending stop token first, and returns only the new rows.
    probe = seq.fork()
    assert torch.allclose(probe.extend([5, 6]), m.logits(probe.ids)[-2:], atol=1e-4)
    # Generation continues seamlessly from where it stopped.
    more = seq.generate(5)
    assert out + more == (free + m.generate(prompt + free, 5))[: len(out) + 5]


def test_streaming_callback_and_should_stop(m):
    seen = []
    out = m.generate(ids(8, 2), 10, on_token=seen.append)
    assert seen == out and len(out) == 10
    calls = []
    seq = m.sequence(ids(8, 2))
    out = seq.generate(10, on_token=calls.append, should_stop=lambda: len(calls) >= 3)
    assert out == calls and len(out) == 3 and len(seq) == 11


def test_sampling_is_seeded_and_top_p_narrows_choices(m):
    prompt = ids(8, 3)
    a = m.generate(prompt, 16, temperature=1.0, seed=7)
    b = m.generate(prompt, 16, temperature=1.0, seed=7)
    c = m.generate(prompt, 16, temperature=1.0, seed=8)
    assert a == b and a != c
    # A tiny top_p leaves only the most likely token: sampling becomes greedy.
    assert m.generate(prompt, 16, temperature=1.0, top_p=1e-6, seed=1) == m.generate(prompt, 16)


def test_truncate_then_generate_equals_fresh_generation(m):
    x = ids(60, 4)
    seq = m.sequence(x)
    seq.truncate(57)  # within the ring: free
    assert seq.computed == 56
    assert seq.generate(8) == m.generate(x[:57], 8)
    seq.truncate(10)  # the rings have moved on: re-prefill on the next call
    assert seq.computed == 0
    assert seq.generate(8) == m.generate(x[:10], 8)
    with pytest.raises(ValueError):
        seq.truncate(100)


def test_fork_is_independent(m):
    seq = m.sequence(ids(40, 5))
    fork = seq.fork()
    a = fork.generate(6, temperature=1.0, seed=3)
    b = seq.generate(6)
    assert len(seq) == len(fork) == 46
    assert seq.ids[:40] == fork.ids[:40]
    assert b == m.generate(ids(40, 5), 6)
    assert a == m.sequence(ids(40, 5)).generate(6, temperature=1.0, seed=3)


def test_bad_requests_are_sentences(m):
    with pytest.raises(ModelError, match="outside this model's vocabulary"):
        m.logits([m.config.vocab_size])
    with pytest.raises(ModelError, match="at least one prompt token"):
        m.sequence().generate(3)


def test_tokenizer_is_the_checkpoints(m):
    tok = m.tokenizer
    assert tok.encode("Okay") == [33413]
    assert tok.special_id("<|frame_sep|>") >= 128000
    assert m.config.vocab_size == 128256


def test_stream_yields_tokens_as_they_come(m):
    prompt = ids(8, 6)
    seq = m.sequence(prompt)
    got = []
    for tok in seq.stream(6):
        got.append(tok)
        assert seq.ids[-1] == tok  # already part of the sequence when it arrives
    assert got == m.generate(prompt, 6)


def test_argmax_rows_are_teacher_forcing(m):
    x = ids(30, 7)
    seq = m.sequence(x[:10])
    best = seq.extend(x[10:], logits="argmax")
    assert best.tolist() == m.logits(x)[10:].argmax(-1).tolist()

"""Parity with transformers' CwmForCausalLM (the reference implementation) on tiny random checkpoints."""

from __future__ import annotations

import pytest
import torch
from neurodebug.model import load_model

from tests.checkpoints import load_reference, make_checkpoint

CONFIGS = {
    # GQA 2, sliding and global layers alternating, untied head.
    "cwm-gqa2": dict(hidden=64, heads=4, kv_heads=2, window=16, tie=False),
    # GQA 4, tied embeddings, CwmConfig's own layer pattern (global every 4th from the first).
    "cwm-gqa4-tied": dict(hidden=64, heads=4, kv_heads=1, window=8, tie=True,
                          layer_types=["full_attention", "sliding_attention", "sliding_attention", "sliding_attention"]),
    # The published CWM config's shape: model_type llama carrying layer_types and sliding_window.
    "llama-with-layer-types": dict(hidden=64, heads=4, kv_heads=2, window=8, tie=False, model_type="llama",
                                   layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"]),
}
CHUNK = 4  # small prefill chunks: sliding rings are window + 4 slots, so they wrap early
TOL = 1e-4


@pytest.fixture(scope="module", params=list(CONFIGS))
def pair(request, tmp_path_factory):
    path = make_checkpoint(tmp_path_factory.mktemp(request.param) / "ckpt", tokenizer=False, vocab=512,
                           seed=len(request.param), **CONFIGS[request.param])
    return load_model(path, attention="reference", chunk_size=CHUNK), load_reference(path)


def reference_logits(ref, ids):
    with torch.no_grad():
        return ref(torch.tensor([ids])).logits[0].float()


def test_llama_config_is_read_as_cwm(pair):
    ours, ref = pair
    assert ours.config.layer_types == list(ref.config.layer_types)
    assert ours.config.sliding_window == ref.config.sliding_window


def test_full_forward_matches(pair):
    ours, ref = pair
    ids = torch.randint(0, 512, (48,), generator=torch.Generator().manual_seed(1)).tolist()
    expected = reference_logits(ref, ids)
    got = ours.logits(ids)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < TOL
    # Chunked prefill through the ring caches gives the same logits.
    assert (ours.sequence().extend(ids) - expected).abs().max().item() < TOL


def test_decode_past_the_window_and_after_truncate(pair):
    ours, ref = pair
    ids = torch.randint(0, 512, (44,), generator=torch.Generator().manual_seed(2)).tolist()
    expected = reference_logits(ref, ids)
    seq = ours.sequence(ids[:3])
    rows = [seq.extend([t], logits="last") for t in ids[3:]]
    assert (torch.stack(rows) - expected[3:]).abs().max().item() < TOL
    W = ours.config.sliding_window
    assert len(ids) > 2 * (W + CHUNK)  # every ring has wrapped more than once

    # Stepping back a little keeps the rings (free); the next tokens still match.
    fork = seq.fork()
    seq.truncate(40)
    assert seq.computed == 39
    assert (seq.extend(ids[40:]) - expected[40:]).abs().max().item() < TOL

    # Stepping back past the ring forces a re-prefill, which must also be exact.
    fork.truncate(12)
    assert fork.computed == 0
    alt = [7, 8, 9]
    got = fork.extend(alt)
    assert (got - reference_logits(ref, ids[:12] + alt)[12:]).abs().max().item() < TOL
    assert seq.ids == ids and fork.ids == ids[:12] + alt


def test_greedy_generation_is_the_reference_argmax(pair):
    # Greedy decoding is deterministic: if transformers' argmax after every prefix of our output is
    # our next token, its greedy generation is our generation. One forward pass checks all 64.
    ours, ref = pair
    prompt = torch.randint(0, 512, (10,), generator=torch.Generator().manual_seed(3)).tolist()
    got = ours.generate(prompt, 64)
    assert len(got) == 64
    expected = reference_logits(ref, prompt + got)[len(prompt) - 1 : -1].argmax(-1).tolist()
    assert got == expected


# transformers' generate is slow on a shared CPU: one config in the default run, the rest marked slow.
@pytest.mark.parametrize("name", [n if n == "cwm-gqa2" else pytest.param(n, marks=pytest.mark.slow) for n in CONFIGS])
def test_greedy_generation_matches_transformers_generate(name, tmp_path):
    path = make_checkpoint(tmp_path / "ckpt", tokenizer=False, vocab=512, seed=len(name), **CONFIGS[name])
    ours, ref = load_model(path, attention="reference", chunk_size=CHUNK), load_reference(path)
    prompt = torch.randint(0, 512, (10,), generator=torch.Generator().manual_seed(3)).tolist()
    with torch.no_grad():
        hf = ref.generate(torch.tensor([prompt]), max_new_tokens=64, do_sample=False,
                          eos_token_id=None, pad_token_id=0)[0, len(prompt):].tolist()
    assert len(hf) == 64
    assert ours.generate(prompt, 64) == hf

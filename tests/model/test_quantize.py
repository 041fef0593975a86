"""int8 weight-only quantization: half the weight memory of bf16, logits close to unquantized."""

from __future__ import annotations

import torch
from neurodebug.model import load_model
from neurodebug.model.quantize import quantize_rows

from tests.checkpoints import make_checkpoint


def test_quantize_rows_round_trips_within_half_a_step():
    w = torch.randn(16, 32)
    q, s = quantize_rows(w)
    assert q.dtype == torch.int8
    assert ((q.float() * s[:, None] - w).abs() <= s[:, None] / 2 + 1e-6).all()


def test_int8_halves_weight_memory_and_keeps_logits_close(tmp_path):
    path = make_checkpoint(tmp_path / "ckpt", hidden=128, heads=4, kv_heads=2, intermediate=256,
                           tokenizer=False, vocab=1024, init_std=0.05)
    bf16 = load_model(path, dtype="bfloat16")
    int8 = load_model(path, dtype="bfloat16", quantize="int8")
    ratio = int8.weight_bytes() / bf16.weight_bytes()
    assert 0.45 < ratio < 0.56, ratio  # int8 values + one bf16 scale per row + bf16 norms

    full = load_model(path, dtype="float32")
    ids = torch.randint(0, 1024, (40,), generator=torch.Generator().manual_seed(0)).tolist()
    ref = full.logits(ids)
    got, half = int8.logits(ids), bf16.logits(ids)
    # Measured: relative error 2.3% for int8 vs 1.0% for plain bf16; cosine >= 0.9995 per position.
    rel = ((got - ref).norm() / ref.norm()).item()
    assert rel < 0.05, rel
    assert rel < 4 * ((half - ref).norm() / ref.norm()).item()
    assert torch.nn.functional.cosine_similarity(got, ref, dim=-1).min().item() > 0.999
    # The most likely next token mostly survives quantization.
    agree = (int8.logits(ids).argmax(-1) == ref.argmax(-1)).float().mean().item()
    assert agree >= 0.9
    # The cached path runs quantized too.
    assert len(int8.generate(ids[:5], 8)) == 8

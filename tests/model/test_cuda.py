"""The runtime on a CUDA device: parity with transformers there, Triton attention in the model,
bf16 and int8. Skipped without CUDA."""

from __future__ import annotations

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

from neurodebug.model import load_model  # noqa: E402

from tests.checkpoints import load_reference, make_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("cuda") / "ckpt", hidden=128, heads=8, kv_heads=2,
                           intermediate=256, window=16, tokenizer=False, vocab=1024, init_std=0.1)


def ids(n, seed=0):
    return torch.randint(0, 1024, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def test_fp32_reference_matches_transformers_on_cuda(ckpt):
    ref = load_reference(ckpt).cuda()
    m = load_model(ckpt, device="cuda", dtype="float32", attention="reference", chunk_size=8)
    x = ids(80)
    with torch.no_grad():
        want = ref(torch.tensor([x], device="cuda")).logits[0].float()
    assert (m.logits(x) - want).abs().max().item() < 1e-3
    seq = m.sequence(x[:5])
    rows = torch.stack([seq.extend([t], logits="last") for t in x[5:]])
    assert (rows - want[5:]).abs().max().item() < 1e-3
    hf = ref.generate(torch.tensor([x[:8]], device="cuda"), max_new_tokens=32, do_sample=False,
                      eos_token_id=None, pad_token_id=0)[0, 8:].tolist()
    assert m.generate(x[:8], 32) == hf


@pytest.mark.parametrize("dtype,tol", [("float32", 2e-3), ("bfloat16", 0.15)])
def test_triton_attention_in_the_model_matches_reference(ckpt, dtype, tol):
    auto = load_model(ckpt, device="cuda", dtype=dtype, attention="auto", chunk_size=8)
    ref = load_model(ckpt, device="cuda", dtype=dtype, attention="reference", chunk_size=8)
    assert auto.attention == "triton"
    x = ids(70, 1)
    a, b = auto.sequence(), ref.sequence()
    # Prefill in chunks, then decode one token at a time past the 16-token window and a truncate.
    assert (a.extend(x[:30]) - b.extend(x[:30])).abs().max().item() < tol
    for t in x[30:]:
        assert (a.extend([t], logits="last") - b.extend([t], logits="last")).abs().max().item() < tol
    a.truncate(60)
    b.truncate(60)
    assert (a.extend(x[60:]) - b.extend(x[60:])).abs().max().item() < tol
    if dtype == "float32":
        assert auto.generate(x[:8], 32) == ref.generate(x[:8], 32)


def test_bf16_and_int8_on_cuda(ckpt):
    full = load_model(ckpt, device="cuda", dtype="float32")
    x = ids(40, 2)
    want = full.logits(x)
    for kw in (dict(dtype="bfloat16"), dict(dtype="bfloat16", quantize="int8")):
        m = load_model(ckpt, device="cuda", **kw)
        got = m.logits(x)
        assert torch.nn.functional.cosine_similarity(got, want, dim=-1).min().item() > 0.995, kw
        assert len(m.generate(x[:8], 16)) == 16
    bf16 = load_model(ckpt, device="cuda", dtype="bfloat16")
    int8 = load_model(ckpt, device="cuda", dtype="bfloat16", quantize="int8")
    assert int8.weight_bytes() < 0.56 * bf16.weight_bytes()


def test_loading_holds_one_copy_of_the_weights(tmp_path):
    # Built on the meta device, each tensor read straight into place: the GPU never holds more than
    # the weights plus a few tensors in flight (the q/k/v and gate/up parts being fused).
    path = make_checkpoint(tmp_path / "big", hidden=512, layers=4, heads=8, kv_heads=2, intermediate=2048,
                           tokenizer=False, vocab=32000, dtype="bfloat16")
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    m = load_model(path, device="cuda", dtype="bfloat16")
    peak = torch.cuda.max_memory_allocated() - base
    largest = 32000 * 512 * 2
    assert m.weight_bytes() <= peak <= m.weight_bytes() + 2 * largest, (peak, m.weight_bytes())


def test_lookahead_on_cuda_matches_one_token_decoding(ckpt):
    """Jump-forward and prompt-lookup drafts with the CUDA-graph decode path on: a lone free step
    replays the graph, a verify step of k tokens runs eagerly, rejected drafts are rolled back;
    the greedy tokens are those of one forward per token."""
    from neurodebug.model.lookahead import Lookahead

    m = load_model(ckpt, device="cuda", dtype="float32", attention="auto")
    assert m.cuda_graphs
    base = ids(12, 3)
    prompt = base * 3 + base[:4]
    want = m.generate(prompt, 48)
    seq = m.sequence(prompt)
    got = seq.generate(48, lookahead=Lookahead(min_ngram=1))
    assert got == want and seq.forwards <= 1 + 48

"""Triton attention kernels against a plain PyTorch reference.

Without CUDA the kernels run in Triton's interpreter (tests/model/triton_interpreter.py), which
mishandles bfloat16: CPU runs use float32 and float16 at tiny shapes. bfloat16 and CWM-sized shapes
run only on a GPU.
"""

import math
import os

import pytest

from tests.model.triton_interpreter import CUDA, DEVICE, torch  # first: it may set TRITON_INTERPRET

from neurodebug.model import triton_attention as ta

TOL = {torch.float32: 2e-5, torch.float16: 3e-3, torch.bfloat16: 2e-2}


def reference(q, keys, values, start_pos, window):
    """Attention written from the definition: every query against the keys it may see, by position.

    keys/values: [B, Hkv, T, D] indexed by absolute position (no ring), T >= start_pos + C."""
    B, Hq, C, D = q.shape
    G = Hq // keys.shape[1]
    end = start_pos + C
    k = keys[:, :, :end].float().repeat_interleave(G, 1)
    v = values[:, :, :end].float().repeat_interleave(G, 1)
    qpos = torch.arange(start_pos, end, device=q.device)[:, None]
    kpos = torch.arange(end, device=q.device)[None, :]
    visible = kpos <= qpos
    if window is not None:
        visible &= kpos > qpos - window
    scores = (q.float() @ k.transpose(-1, -2)) / math.sqrt(D)
    return scores.masked_fill(~visible, float("-inf")).softmax(-1) @ v


def make_case(B, Hq, Hkv, D, total, S, dtype, seed=0):
    """Keys/values for positions 0..total-1, written in order into a cache of S slots (slot p % S).

    Slots never written hold NaN, so a kernel that reads one poisons its output."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(B, Hkv, total, D, generator=g).to(dtype)
    values = torch.randn(B, Hkv, total, D, generator=g).to(dtype)
    k_cache = torch.full((B, Hkv, S, D), float("nan"), dtype=dtype)
    v_cache = torch.full((B, Hkv, S, D), float("nan"), dtype=dtype)
    for p in range(total):
        k_cache[:, :, p % S] = keys[:, :, p]
        v_cache[:, :, p % S] = values[:, :, p]
    return keys.to(DEVICE), values.to(DEVICE), k_cache.to(DEVICE), v_cache.to(DEVICE), g


def queries(g, B, Hq, C, D, dtype):
    return torch.randn(B, Hq, C, D, generator=g).to(dtype).to(DEVICE)


def assert_close(out, ref, dtype):
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), ref, atol=TOL[dtype], rtol=TOL[dtype])


DTYPES = [torch.float32, torch.float16]

# (name, B, Hq, Hkv, D, start_pos, C, window, S)
PREFILL_CASES = [
    ("global_gqa1", 1, 2, 2, 64, 0, 40, None, 48),
    ("window_longer_than_seq_gqa2", 1, 4, 2, 64, 0, 20, 24, 24 + 20),
    ("window_13_seq_48_gqa6", 1, 6, 1, 64, 0, 48, 13, 13 + 48),
    ("global_offset_chunk_d128_gqa6", 1, 6, 1, 128, 20, 24, None, 44),
    ("window_ring_wraps_offset_chunk", 2, 4, 2, 64, 40, 20, 13, 13 + 20),
    ("window_1", 1, 2, 1, 64, 5, 20, 1, 1 + 20),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", PREFILL_CASES, ids=lambda c: c[0])
def test_prefill_matches_reference(case, dtype):
    _, B, Hq, Hkv, D, start_pos, C, window, S = case
    keys, values, k_cache, v_cache, g = make_case(B, Hq, Hkv, D, start_pos + C, S, dtype)
    q = queries(g, B, Hq, C, D, dtype)
    ref = reference(q, keys, values, start_pos, window)
    assert_close(ta.attention(q, k_cache, v_cache, start_pos, window), ref, dtype)
    # Other tilings move the window and causal edges to other places inside blocks.
    assert_close(ta.prefill(q, k_cache, v_cache, start_pos, window, block_m=16, block_n=32), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("Hq,Hkv,D,window", [(2, 2, 64, None), (6, 1, 64, 10), (4, 2, 128, 7)],
                         ids=["global_gqa1", "window10_gqa6", "window7_gqa2_d128"])
def test_decode_token_by_token_across_ring_wrap(Hq, Hkv, D, window, dtype):
    """Decode one position at a time, as generation does; the sliding ring (W + 3 slots) wraps
    several times, the global cache fills up."""
    total, prompt = 28, 4
    S = total if window is None else window + 3
    keys, values, _, _, g = make_case(1, Hq, Hkv, D, total, S, dtype)
    k_cache = torch.full((1, Hkv, S, D), float("nan"), dtype=dtype, device=DEVICE)
    v_cache = k_cache.clone()
    q_all = queries(g, 1, Hq, total, D, dtype)
    ref = reference(q_all, keys, values, 0, window)
    for p in range(total):
        k_cache[:, :, p % S] = keys[:, :, p]
        v_cache[:, :, p % S] = values[:, :, p]
        if p < prompt:
            continue
        out = ta.attention(q_all[:, :, p:p + 1], k_cache, v_cache, p, window)
        assert_close(out, ref[:, :, p:p + 1], dtype)
        # The CUDA-graph step's form: the position in device memory, splits over the whole cache
        # (those past the position read nothing: the NaN slots never reach the result).
        at = torch.tensor([p], device=DEVICE)
        assert_close(ta.attention(q_all[:, :, p:p + 1], k_cache, v_cache, at, window), ref[:, :, p:p + 1], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("window", [None, 9], ids=["global", "window9"])
def test_decode_few_positions_and_split_counts(window, dtype):
    """A few positions at once (speculation, a short extend), and every way of splitting the keys:
    one chunk, chunks with rows that see nothing in them, one block per chunk."""
    B, Hq, Hkv, D, start_pos, C = 2, 6, 2, 64, 29, 4
    S = start_pos + C if window is None else window + C
    keys, values, k_cache, v_cache, g = make_case(B, Hq, Hkv, D, start_pos + C, S, dtype)
    q = queries(g, B, Hq, C, D, dtype)
    ref = reference(q, keys, values, start_pos, window)
    assert_close(ta.attention(q, k_cache, v_cache, start_pos, window), ref, dtype)
    for n_splits in (1, 3, 64):
        out = ta.decode(q, k_cache, v_cache, start_pos, window, block_n=16, n_splits=n_splits)
        assert_close(out, ref, dtype)


def test_decode_and_prefill_paths_agree_on_one_chunk():
    """The same few positions through either kernel; attention() picks decode for them."""
    keys, values, k_cache, v_cache, g = make_case(1, 6, 1, 64, 30, 30, torch.float32)
    q = queries(g, 1, 6, 3, 64, torch.float32)
    via_decode = ta.decode(q, k_cache, v_cache, 27, None)
    via_prefill = ta.prefill(q, k_cache, v_cache, 27, None)
    torch.testing.assert_close(via_decode, via_prefill, atol=2e-5, rtol=2e-5)
    torch.testing.assert_close(ta.attention(q, k_cache, v_cache, 27, None), via_decode, atol=0, rtol=0)


def test_strided_query_layout():
    """q as the runtime often has it: a transpose of [B, C, Hq, D], not contiguous."""
    keys, values, k_cache, v_cache, g = make_case(1, 4, 2, 64, 24, 24, torch.float32)
    q = torch.randn(1, 24, 4, 64, generator=g).to(DEVICE).transpose(1, 2)
    assert not q.is_contiguous()
    ref = reference(q, keys, values, 0, 8)
    assert_close(ta.attention(q, k_cache, v_cache, 0, 8), ref, torch.float32)


@pytest.mark.parametrize("make_args,message", [
    (lambda q, k, v: (q, k[:, :, :10], v, 0, None), "differ in shape"),
    (lambda q, k, v: (q[:, :3], k, v, 0, None), "not a multiple"),
    (lambda q, k, v: (q, k, v, 20, None), "global cache holds"),
    (lambda q, k, v: (q, k[:, :, :12], v[:, :, :12], 20, 8), "ring of 12 slots"),
    (lambda q, k, v: (q.half(), k, v, 0, None), "must share"),
    (lambda q, k, v: (q[..., :48], k[..., :48], v[..., :48], 0, None), "head_dim"),
])
def test_bad_arguments_are_refused_with_a_reason(make_args, message):
    q = torch.zeros(1, 4, 8, 64, device=DEVICE)
    k = torch.zeros(1, 2, 24, 64, device=DEVICE)
    with pytest.raises(ValueError, match=message):
        ta.attention(*make_args(q, k, k.clone()))


def test_matches_runtime_reference():
    """Against model/attention.py's reference (the runtime's definition of correct), both paths."""
    from neurodebug.model.attention import reference_attention  # renamed or gone: this test fails

    for start_pos, C, window, S in [(0, 37, None, 40), (30, 20, 11, 31), (52, 1, 11, 31), (20, 4, None, 40)]:
        keys, values, k_cache, v_cache, g = make_case(1, 6, 2, 64, start_pos + C, S, torch.float32, seed=C)
        q = queries(g, 1, 6, C, 64, torch.float32)
        expected = reference_attention(q, k_cache, v_cache, start_pos, window)
        torch.testing.assert_close(ta.attention(q, k_cache, v_cache, start_pos, window), expected,
                                   atol=2e-5, rtol=2e-5)


gpu = pytest.mark.skipif(not CUDA, reason="needs CUDA")


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("window", [None, 300], ids=["global", "window300"])
def test_bf16_cwm_heads_on_gpu(window):
    """CWM's head shapes (48 query heads, 8 KV heads, head_dim 128) in bfloat16: a 1000-token
    prefill at an offset, then decode steps."""
    dtype, start_pos, C = torch.bfloat16, 24, 1000
    total = start_pos + C + 8
    S = total if window is None else window + C
    keys, values, k_cache, v_cache, g = make_case(1, 48, 8, 128, total, S, dtype)
    # Refill the cache in order up to the chunk's end only: decode steps write their own slots.
    k_cache.fill_(float("nan"))
    v_cache.fill_(float("nan"))
    for p in range(start_pos + C):
        k_cache[:, :, p % S] = keys[:, :, p]
        v_cache[:, :, p % S] = values[:, :, p]
    q = queries(g, 1, 48, C + 8, 128, dtype)
    ref = reference(q[:, :, :C], keys, values, start_pos, window)
    assert_close(ta.attention(q[:, :, :C], k_cache, v_cache, start_pos, window), ref, dtype)
    for i in range(8):
        p = start_pos + C + i
        k_cache[:, :, p % S] = keys[:, :, p]
        v_cache[:, :, p % S] = values[:, :, p]
        ref = reference(q[:, :, C + i:C + i + 1], keys, values, p, window)
        assert_close(ta.attention(q[:, :, C + i:C + i + 1], k_cache, v_cache, p, window), ref, dtype)


def test_whole_model_triton_matches_reference(cwm_checkpoint):
    """The tiny CWM checkpoint (sliding window 16 and global layers, GQA 2, head_dim 16) through the
    runtime with each backend: a prompt prefilled in chunks of 16 (the rings of 16 + 16 slots wrap),
    then tokens decoded one at a time, then a step back and a different continuation."""
    from neurodebug.model import load_model

    ref = load_model(cwm_checkpoint, device=DEVICE, attention="reference", chunk_size=16)
    tri = load_model(cwm_checkpoint, device=DEVICE, attention="triton", chunk_size=16)
    assert (ref.attention, tri.attention) == ("reference", "triton")
    prompt = [128000] + [(7 * i + 3) % 5000 + 100 for i in range(44)]
    s_ref, s_tri = ref.sequence(), tri.sequence()
    torch.testing.assert_close(s_tri.extend(prompt), s_ref.extend(prompt), atol=1e-4, rtol=1e-4)
    for tok in (11, 2024, 7):
        torch.testing.assert_close(s_tri.extend([tok]), s_ref.extend([tok]), atol=1e-4, rtol=1e-4)
    s_ref.truncate(40)
    s_tri.truncate(40)
    torch.testing.assert_close(s_tri.extend([5, 6, 8]), s_ref.extend([5, 6, 8]), atol=1e-4, rtol=1e-4)
    assert s_tri.generate(4) == s_ref.generate(4)


def test_decode_steps_with_the_position_in_device_memory(cwm_checkpoint):
    """The runtime's CUDA-graph decode step run eagerly (tensor_positions): rope, the cache write
    and the attention read the position from a tensor. Its tokens and logits match the plain
    path's, past the ring's wrap, after a truncate and in a fork."""
    from neurodebug.model import load_model

    plain = load_model(cwm_checkpoint, device=DEVICE, attention="triton", chunk_size=16)
    tensor = load_model(cwm_checkpoint, device=DEVICE, attention="triton", chunk_size=16)
    tensor.tensor_positions = True
    prompt = [128000] + [(7 * i + 3) % 5000 + 100 for i in range(20)]
    a, b = plain.sequence(prompt), tensor.sequence(prompt)
    assert b.generate(16) == a.generate(16)  # 37 positions: the 32-slot rings wrap
    torch.testing.assert_close(b.extend([9]), a.extend([9]), atol=1e-4, rtol=1e-4)
    a.truncate(30)
    b.truncate(30)
    fa, fb = a.fork(), b.fork()
    assert fb.generate(6) == fa.generate(6)
    torch.testing.assert_close(b.extend([5]), a.extend([5]), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="decode steps only"):
        ta.attention(torch.zeros(1, 2, 40, 16, device=DEVICE), torch.zeros(1, 1, 64, 16, device=DEVICE),
                     torch.zeros(1, 1, 64, 16, device=DEVICE), torch.tensor([0], device=DEVICE), None)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_graph_decode_matches_eager(cwm_checkpoint):
    """Decode by replaying a captured CUDA graph: the same greedy tokens as eager decoding, a new
    capture when the global cache grows past the graph's headroom, and in a fork."""
    from neurodebug.model import load_model, runtime

    eager = load_model(cwm_checkpoint, device="cuda", attention="triton", chunk_size=16)
    graphed = load_model(cwm_checkpoint, device="cuda", attention="triton", chunk_size=16, cuda_graphs=True)
    assert graphed.cuda_graphs
    prompt = [128000] + [(7 * i + 3) % 5000 + 100 for i in range(20)]
    a, b = eager.sequence(prompt), graphed.sequence(prompt)
    old = runtime.GRAPH_HEADROOM
    runtime.GRAPH_HEADROOM = 8  # recapture every few tokens
    try:
        assert b.generate(40) == a.generate(40)
    finally:
        runtime.GRAPH_HEADROOM = old
    assert b.fork().generate(8) == a.fork().generate(8)


@pytest.mark.skipif(CUDA, reason="the interpreter is only chosen without CUDA")
def test_interpreter_works_when_triton_was_imported_first():
    """torch may import triton before anyone sets TRITON_INTERPRET; the kernels must still run."""
    import subprocess
    import sys

    code = (
        "import os, triton, torch\n"
        "os.environ.pop('TRITON_INTERPRET', None)\n"
        "from neurodebug.model.triton_attention import attention\n"
        "q = torch.randn(1, 2, 20, 16); k = torch.randn(1, 1, 20, 16)\n"
        "out = attention(q, k, k, 0, None)\n"
        "ref = torch.nn.functional.scaled_dot_product_attention(q, k.expand(1, 2, 20, 16),"
        " k.expand(1, 2, 20, 16), is_causal=True)\n"
        "print(float((out - ref).abs().max()))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.strip().splitlines()[-1]) < 1e-5

"""Triton attention for the runtime: flash-attention prefill and split-K flash-decoding.

Same contract as the reference in model/attention.py:

    attention(q, k_cache, v_cache, start_pos, window) -> out

    q        [B, Hq, C, D], already rotated; its queries sit at positions start_pos .. start_pos+C-1
    k_cache  [B, Hkv, S, D]; position p lives in slot p % S, every key a query can see is written
    v_cache  [B, Hkv, S, D]
    window   None: global layer, a query at i sees keys 0..i (S >= start_pos + C)
             W:    sliding layer, a query at i sees keys i-W+1..i (S = W + slack, a ring)
    out      [B, Hq, C, D] in q's dtype; scale 1/sqrt(D); Hq % Hkv == 0 (grouped-query attention)

Both kernels fold the G = Hq/Hkv query heads that share a KV head into the rows of one tile:
row r of a (b, kv head) problem is query position r // G of query head kv_head*G + r % G. Each K/V
tile is therefore loaded once for all the heads that read it.

Prefill visits, for a block of rows, only the key blocks its rows can see: from the first key inside
the window of its earliest query to its latest query. The loop is split in three (as Triton's
06-fused-attention tutorial does): blocks straddling the window edge (masked), blocks every row sees
whole (no mask), blocks straddling the causal diagonal (masked).

Decode (a few new positions) splits the visible keys into chunks processed by separate programs, then
a second kernel merges the partial results by their log-sum-exp (flash-decoding): at batch 1 a model
with 8 KV heads would otherwise keep only 8 programs busy.
"""

from __future__ import annotations

import math
import os

import torch

# Triton decides when a kernel is decorated whether it is compiled or interpreted. Without CUDA the
# interpreter is the only way to run these kernels (CPU tests, attention="triton" without a GPU).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"

# Decode path when at most this many query positions arrive and their rows fit one tile.
DECODE_MAX_POSITIONS = 16
DECODE_MAX_ROWS = 128
# Shortest run of keys one decode program reads on a GPU (see decode()).
MIN_SPLIT_KEYS = 256
LOG2E = 1.4426950408889634


# The kernels call no @jit library function of triton (tl.zeros, tl.max, tl.sum, tl.cdiv): when
# something (torch does, lazily) imported triton before TRITON_INTERPRET was set, those are
# compiled-mode objects that the interpreter cannot call. Reductions go through tl.reduce with
# triton's own combine functions, which the interpreter recognises and runs as numpy.
_max_combine = tl.standard._elementwise_max
_add_combine = tl.standard._sum_combine


@triton.jit
def _dot(a, b, acc, IEEE: tl.constexpr):
    # float32 inputs would otherwise run as TF32 on a GPU; only the float32 tests need full precision.
    if IEEE:
        return tl.dot(a, b, acc, input_precision="ieee")
    else:
        return tl.dot(a, b, acc)


@triton.jit
def _attend(acc, l_i, m_i, q, k_base, v_base, stride_ks, stride_vs, start_n, key_end, pos, S, window,
            qk_scale, BLOCK_N: tl.constexpr, HEAD_D: tl.constexpr, MASKED: tl.constexpr,
            HAS_WINDOW: tl.constexpr, IEEE: tl.constexpr):
    """One key block [start_n, start_n + BLOCK_N) into the running softmax of the tile's rows.

    key_end: keys at or past it are not loaded (never written, possibly NaN garbage).
    pos: absolute position of each row's query."""
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_D)
    kpos = start_n + offs_n
    if HAS_WINDOW:
        slot = kpos % S  # sliding layers read a ring that may wrap inside the block
    else:
        slot = kpos
    k_ptrs = k_base + slot[None, :] * stride_ks + offs_d[:, None]
    v_ptrs = v_base + slot[:, None] * stride_vs + offs_d[None, :]
    if MASKED:
        loaded = kpos < key_end
        k = tl.load(k_ptrs, mask=loaded[None, :], other=0.0)
    else:
        k = tl.load(k_ptrs)
    qk = _dot(q, k, tl.full([q.shape[0], BLOCK_N], 0.0, dtype=tl.float32), IEEE) * qk_scale
    if MASKED:
        visible = kpos[None, :] <= pos[:, None]
        if HAS_WINDOW:
            visible = visible & (kpos[None, :] > pos[:, None] - window)
        qk = tl.where(visible, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.reduce(qk, 1, _max_combine))
        # A row that has seen no visible key yet keeps m = -inf; subtract 0 instead of -inf (NaN).
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
    else:
        m_new = tl.maximum(m_i, tl.reduce(qk, 1, _max_combine))
        m_use = m_new
    p = tl.math.exp2(qk - m_use[:, None])
    alpha = tl.math.exp2(m_i - m_use)
    l_i = l_i * alpha + tl.reduce(p, 1, _add_combine)
    acc = acc * alpha[:, None]
    if MASKED:
        v = tl.load(v_ptrs, mask=loaded[:, None], other=0.0)
    else:
        v = tl.load(v_ptrs)
    acc = _dot(p.to(v.dtype), v, acc, IEEE)
    return acc, l_i, m_new


# Positions and lengths change from call to call: they are not specialised on (divisibility by 16,
# == 1), or a decode loop would compile new variants as it advances. Strides and pointers are:
# their divisibility is what lets loads of a row vectorise.
@triton.jit(do_not_specialize=["C", "start_pos"])
def _prefill_kernel(Q, K, V, O,
                    stride_qb, stride_qh, stride_qc,
                    stride_kb, stride_kh, stride_ks,
                    stride_vb, stride_vh, stride_vs,
                    stride_ob, stride_oh, stride_oc,
                    H_KV, C, S, start_pos, window, qk_scale,
                    G: tl.constexpr, HEAD_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                    HAS_WINDOW: tl.constexpr, IEEE: tl.constexpr):
    # Row blocks late in the sequence see the most keys: start them first so the tail of the grid
    # is made of short programs.
    pid_m = tl.num_programs(0) - 1 - tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H_KV).to(tl.int64)
    kvh = (pid_bh % H_KV).to(tl.int64)

    n_rows = C * G
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    # Rows past the end repeat the last one: they stay finite and are not stored.
    rows_c = tl.minimum(rows, n_rows - 1)
    c = rows_c // G
    head = kvh * G + rows_c % G
    pos = start_pos + c
    offs_d = tl.arange(0, HEAD_D)
    q = tl.load(Q + b * stride_qb + head[:, None] * stride_qh + c[:, None] * stride_qc + offs_d[None, :])

    first = start_pos + (pid_m * BLOCK_M) // G
    last = start_pos + (tl.minimum(pid_m * BLOCK_M + BLOCK_M, n_rows) - 1) // G
    key_end = last + 1
    full_hi = first + 1  # below this no row's causal edge cuts in

    k_base = K + b * stride_kb + kvh * stride_kh
    v_base = V + b * stride_vb + kvh * stride_vh
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.full([BLOCK_M], 0.0, dtype=tl.float32)
    acc = tl.full([BLOCK_M, HEAD_D], 0.0, dtype=tl.float32)

    # 1. blocks straddling the window's start (sliding layers only)
    if HAS_WINDOW:
        lo = tl.maximum(first - window + 1, 0)  # the earliest query's window start
        full_lo = tl.maximum(last - window + 1, 0)  # from here every row's window has begun
        a_end = lo + (full_lo - lo + BLOCK_N - 1) // BLOCK_N * BLOCK_N
        for start_n in range(lo, a_end, BLOCK_N):
            acc, l_i, m_i = _attend(acc, l_i, m_i, q, k_base, v_base, stride_ks, stride_vs, start_n, key_end,
                                    pos, S, window, qk_scale, BLOCK_N, HEAD_D, True, HAS_WINDOW, IEEE)
    else:
        a_end = 0
    # 2. blocks every row sees whole
    b_end = a_end + tl.maximum(full_hi - a_end, 0) // BLOCK_N * BLOCK_N
    for start_n in range(a_end, b_end, BLOCK_N):
        acc, l_i, m_i = _attend(acc, l_i, m_i, q, k_base, v_base, stride_ks, stride_vs, start_n, key_end,
                                pos, S, window, qk_scale, BLOCK_N, HEAD_D, False, HAS_WINDOW, IEEE)
    # 3. blocks straddling the causal diagonal
    for start_n in range(b_end, key_end, BLOCK_N):
        acc, l_i, m_i = _attend(acc, l_i, m_i, q, k_base, v_base, stride_ks, stride_vs, start_n, key_end,
                                pos, S, window, qk_scale, BLOCK_N, HEAD_D, True, HAS_WINDOW, IEEE)

    out = acc / l_i[:, None]
    o_ptrs = O + b * stride_ob + head[:, None] * stride_oh + c[:, None] * stride_oc + offs_d[None, :]
    tl.store(o_ptrs, out.to(O.dtype.element_ty), mask=(rows < n_rows)[:, None])


@triton.jit(do_not_specialize=["C", "start_pos", "key_lo", "chunk", "n_splits"])
def _decode_split_kernel(Q, K, V, Op, Lp, POS,
                         stride_qb, stride_qh, stride_qc,
                         stride_kb, stride_kh, stride_ks,
                         stride_vb, stride_vh, stride_vs,
                         H_KV, C, S, start_pos, window, qk_scale, key_lo, chunk, n_splits,
                         G: tl.constexpr, HEAD_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                         HAS_WINDOW: tl.constexpr, IEEE: tl.constexpr, POS_IN_MEMORY: tl.constexpr):
    """Partial attention of all C*G rows of one (batch, KV head) over one chunk of the visible keys.

    Writes the chunk-normalised output to Op[bh, split, row, :] and its base-2 log-sum-exp to
    Lp[bh, split, row] (-inf for a row that sees no key in this chunk, e.g. a chunk past the end).
    POS_IN_MEMORY: start_pos is read from POS[0] and key_lo derived from it, so that one launch
    serves every position (a CUDA graph replays it)."""
    split = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H_KV).to(tl.int64)
    kvh = (pid_bh % H_KV).to(tl.int64)
    if POS_IN_MEMORY:
        start_pos = tl.load(POS).to(tl.int32)
        if HAS_WINDOW:
            key_lo = tl.maximum(start_pos - window + 1, 0)
        else:
            key_lo = 0

    n_rows = C * G
    rows = tl.arange(0, BLOCK_M)
    rows_c = tl.minimum(rows, n_rows - 1)
    c = rows_c // G
    head = kvh * G + rows_c % G
    pos = start_pos + c
    offs_d = tl.arange(0, HEAD_D)
    q = tl.load(Q + b * stride_qb + head[:, None] * stride_qh + c[:, None] * stride_qc + offs_d[None, :])

    s_lo = key_lo + split * chunk
    s_hi = tl.minimum(s_lo + chunk, start_pos + C)
    k_base = K + b * stride_kb + kvh * stride_kh
    v_base = V + b * stride_vb + kvh * stride_vh
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.full([BLOCK_M], 0.0, dtype=tl.float32)
    acc = tl.full([BLOCK_M, HEAD_D], 0.0, dtype=tl.float32)
    for start_n in range(s_lo, s_hi, BLOCK_N):
        acc, l_i, m_i = _attend(acc, l_i, m_i, q, k_base, v_base, stride_ks, stride_vs, start_n, s_hi,
                                pos, S, window, qk_scale, BLOCK_N, HEAD_D, True, HAS_WINDOW, IEEE)

    seen = l_i > 0.0
    out = acc / tl.where(seen, l_i, 1.0)[:, None]
    lse = tl.where(seen, m_i + tl.math.log2(tl.where(seen, l_i, 1.0)), float("-inf"))
    part = pid_bh.to(tl.int64) * n_splits + split
    keep = rows < n_rows
    tl.store(Op + (part * n_rows + rows)[:, None] * HEAD_D + offs_d[None, :], out, mask=keep[:, None])
    tl.store(Lp + part * n_rows + rows, lse, mask=keep)


@triton.jit(do_not_specialize=["C", "n_splits"])
def _decode_merge_kernel(Op, Lp, O, stride_ob, stride_oh, stride_oc, H_KV, C, n_splits,
                         G: tl.constexpr, HEAD_D: tl.constexpr, BLOCK_S: tl.constexpr):
    """out[row] = sum_s 2^(lse_s - max) * Op_s / sum_s 2^(lse_s - max), one program per row."""
    pid = tl.program_id(0)
    n_rows = C * G
    pid_bh = pid // n_rows
    row = pid % n_rows
    b = (pid_bh // H_KV).to(tl.int64)
    kvh = (pid_bh % H_KV).to(tl.int64)
    offs_s = tl.arange(0, BLOCK_S)
    offs_d = tl.arange(0, HEAD_D)
    in_range = offs_s < n_splits
    part = pid_bh.to(tl.int64) * n_splits + offs_s
    lse = tl.load(Lp + part * n_rows + row, mask=in_range, other=float("-inf"))
    m = tl.reduce(lse, 0, _max_combine)  # finite: every row sees its own key in some chunk
    w = tl.math.exp2(lse - m)
    o = tl.load(Op + (part * n_rows + row)[:, None] * HEAD_D + offs_d[None, :], mask=in_range[:, None], other=0.0)
    out = tl.reduce(w[:, None] * o, 0, _add_combine) / tl.reduce(w, 0, _add_combine)
    c = row // G
    head = kvh * G + row % G
    tl.store(O + b * stride_ob + head * stride_oh + c * stride_oc + offs_d, out.to(O.dtype.element_ty))


def _check(q, k_cache, v_cache, start_pos, window):
    if q.dim() != 4 or k_cache.dim() != 4 or v_cache.dim() != 4:
        raise ValueError("triton attention needs 4-d q [B, Hq, C, D] and caches [B, Hkv, S, D]")
    if k_cache.shape != v_cache.shape:
        raise ValueError(f"k_cache {tuple(k_cache.shape)} and v_cache {tuple(v_cache.shape)} differ in shape")
    B, Hq, C, D = q.shape
    Bk, Hkv, S, Dk = k_cache.shape
    if Bk != B or Dk != D:
        raise ValueError(f"q {tuple(q.shape)} does not match the cache {tuple(k_cache.shape)} in batch or head_dim")
    if Hq % Hkv:
        raise ValueError(f"{Hq} query heads are not a multiple of {Hkv} KV heads")
    if D not in (16, 32, 64, 128, 256):
        raise ValueError(f"triton attention supports head_dim 16, 32, 64, 128 or 256, not {D}")
    if not (q.dtype == k_cache.dtype == v_cache.dtype) or q.dtype not in (torch.float16, torch.bfloat16,
                                                                           torch.float32):
        raise ValueError(f"q, k_cache and v_cache must share one of float16/bfloat16/float32, got "
                         f"{q.dtype}, {k_cache.dtype}, {v_cache.dtype}")
    if not (q.device == k_cache.device == v_cache.device):
        raise ValueError("q, k_cache and v_cache are on different devices")
    if q.device.type != "cuda" and not INTERPRET:
        raise ValueError("triton attention runs on CUDA tensors (or on the CPU with TRITON_INTERPRET=1)")
    if start_pos < 0 or C == 0:
        raise ValueError(f"bad chunk: start_pos={start_pos}, {C} positions")
    if window is None:
        if start_pos + C > S:
            raise ValueError(f"global cache holds {S} positions, chunk ends at {start_pos + C}")
    else:
        if window < 1:
            raise ValueError(f"window must be positive, got {window}")
        # Keys needed by this chunk: from the first query's window start to the last query.
        span = start_pos + C - max(0, start_pos - window + 1)
        if span > S:
            raise ValueError(f"ring of {S} slots cannot hold the {span} positions this chunk reads")


def _inner(t):
    # The kernels index rows by stride and read each row of D contiguously.
    return t if t.stride(-1) == 1 else t.contiguous()


# On a GPU the 16-bit prefill tile is picked by measurement, once per head_dim/group/layer kind and
# process (a few seconds of compiling at first use); all of these fit an H100's shared memory.
_PREFILL_CONFIGS = [
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128}, num_warps=8, num_stages=2),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 64}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK_M": 64, "BLOCK_N": 64}, num_warps=4, num_stages=3),
]
_prefill_tuned = None if INTERPRET else triton.autotune(
    configs=_PREFILL_CONFIGS, key=["HEAD_D", "G", "HAS_WINDOW"])(_prefill_kernel)


def _prefill_config(dtype, device, D):
    """A fixed tile for the interpreter, float32 and head_dim 256 (None: autotune)."""
    if INTERPRET or device.type != "cuda":
        return dict(BLOCK_M=32, BLOCK_N=16, num_warps=4, num_stages=1)
    if dtype == torch.float32 or D > 128:  # more bytes per tile: smaller tiles fit shared memory
        return dict(BLOCK_M=64, BLOCK_N=32, num_warps=4, num_stages=2)
    return None


def prefill(q, k_cache, v_cache, start_pos, window, *, block_m=None, block_n=None):
    """Flash-attention forward over a chunk of C positions (any C). Checks nothing: use attention()."""
    B, Hq, C, D = q.shape
    Hkv, S = k_cache.shape[1], k_cache.shape[2]
    G = Hq // Hkv
    q, k_cache, v_cache = _inner(q), _inner(k_cache), _inner(v_cache)
    out = torch.empty((B, Hq, C, D), dtype=q.dtype, device=q.device)
    cfg = _prefill_config(q.dtype, q.device, D)
    if cfg is None and (block_m or block_n):
        cfg = dict(BLOCK_M=128, BLOCK_N=64, num_warps=8, num_stages=3)
    if cfg is not None:
        cfg["BLOCK_M"] = block_m or cfg["BLOCK_M"]
        cfg["BLOCK_N"] = block_n or cfg["BLOCK_N"]
        kernel = _prefill_kernel
    else:
        cfg, kernel = {}, _prefill_tuned
    grid = lambda meta: (triton.cdiv(C * G, meta["BLOCK_M"]), B * Hkv)  # noqa: E731
    kernel[grid](
        q, k_cache, v_cache, out,
        q.stride(0), q.stride(1), q.stride(2),
        k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        v_cache.stride(0), v_cache.stride(1), v_cache.stride(2),
        out.stride(0), out.stride(1), out.stride(2),
        Hkv, C, S, start_pos, window or 0, LOG2E / math.sqrt(D),
        G=G, HEAD_D=D, HAS_WINDOW=window is not None, IEEE=q.dtype == torch.float32, **cfg)
    return out


_SM_COUNT = {}


def _programs_wanted(device):
    """About how many programs keep the device busy: two per SM (on an H200 a sweep of split
    counts peaked there: 3.48 TB/s at 33 splits x 8 KV heads against 3.03 at 66, 32k context)."""
    if INTERPRET or device.type != "cuda":
        return 4
    idx = device.index if device.index is not None else torch.cuda.current_device()
    if idx not in _SM_COUNT:
        _SM_COUNT[idx] = torch.cuda.get_device_properties(idx).multi_processor_count
    return 2 * _SM_COUNT[idx]


def _chunking(q, n_programs_per_split: int, n_keys: int, block_n, n_splits) -> tuple[int, int, int]:
    """(block_n, chunk, n_splits) for split-K decode over n_keys keys: enough programs to keep every
    SM streaming, but no split shorter than MIN_SPLIT_KEYS on a GPU (each split also loads its
    queries and writes a partial result that the merge reads), and no empty chunk."""
    if block_n is None:
        block_n = 16 if INTERPRET or q.device.type != "cuda" else 32 if q.shape[-1] > 128 else 64
    n_blocks = triton.cdiv(n_keys, block_n)
    if n_splits is None:
        n_splits = triton.cdiv(_programs_wanted(q.device), n_programs_per_split)
        if q.device.type == "cuda" and not INTERPRET:
            n_splits = min(n_splits, triton.cdiv(n_keys, MIN_SPLIT_KEYS))
    n_splits = max(1, min(n_splits, n_blocks))
    chunk = triton.cdiv(n_blocks, n_splits) * block_n
    return block_n, chunk, triton.cdiv(n_keys, chunk)


def decode(q, k_cache, v_cache, start_pos, window, *, block_n=None, n_splits=None):
    """Split-K attention for a few positions (C*G <= DECODE_MAX_ROWS). Checks nothing: use attention()."""
    B, C = q.shape[0], q.shape[2]
    q, k_cache, v_cache = _inner(q), _inner(k_cache), _inner(v_cache)
    key_lo = 0 if window is None else max(0, start_pos - window + 1)
    block_n, chunk, n_splits = _chunking(q, B * k_cache.shape[1], start_pos + C - key_lo, block_n, n_splits)
    return _split_and_merge(q, k_cache, v_cache, start_pos, window, key_lo, chunk, n_splits, block_n, None)


def decode_at(q, k_cache, v_cache, pos: torch.Tensor, window, *, block_n=None, n_splits=None):
    """decode() with the chunk's first position in device memory (``pos``: an integer tensor of one
    element): the launch is the same whatever the position, so a CUDA graph can replay it. The
    splits cover every key the cache could hold (S for a global layer, W + C - 1 for a window);
    those past the current position find nothing to read and cost little. Checks nothing."""
    B, C = q.shape[0], q.shape[2]
    S = k_cache.shape[2]
    q, k_cache, v_cache = _inner(q), _inner(k_cache), _inner(v_cache)
    max_keys = S if window is None else min(S, window + C - 1)
    block_n, chunk, n_splits = _chunking(q, B * k_cache.shape[1], max_keys, block_n, n_splits)
    return _split_and_merge(q, k_cache, v_cache, 0, window, 0, chunk, n_splits, block_n, pos)


def _split_and_merge(q, k_cache, v_cache, start_pos, window, key_lo, chunk, n_splits, block_n, pos):
    B, Hq, C, D = q.shape
    Hkv, S = k_cache.shape[1], k_cache.shape[2]
    G = Hq // Hkv
    n_rows = C * G
    block_m = max(16, triton.next_power_of_2(n_rows))
    part_out = torch.empty((B * Hkv, n_splits, n_rows, D), dtype=torch.float32, device=q.device)
    part_lse = torch.empty((B * Hkv, n_splits, n_rows), dtype=torch.float32, device=q.device)
    _decode_split_kernel[(n_splits, B * Hkv)](
        q, k_cache, v_cache, part_out, part_lse, q if pos is None else pos,
        q.stride(0), q.stride(1), q.stride(2),
        k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        v_cache.stride(0), v_cache.stride(1), v_cache.stride(2),
        Hkv, C, S, start_pos, window or 0, LOG2E / math.sqrt(D), key_lo, chunk, n_splits,
        G=G, HEAD_D=D, BLOCK_M=block_m, BLOCK_N=block_n, HAS_WINDOW=window is not None,
        IEEE=q.dtype == torch.float32, POS_IN_MEMORY=pos is not None, num_warps=4,
        num_stages=1 if INTERPRET else 2 if q.dtype == torch.float32 or D > 128 else 3)
    out = torch.empty((B, Hq, C, D), dtype=q.dtype, device=q.device)
    _decode_merge_kernel[(B * Hkv * n_rows,)](
        part_out, part_lse, out, out.stride(0), out.stride(1), out.stride(2), Hkv, C, n_splits,
        G=G, HEAD_D=D, BLOCK_S=max(2, triton.next_power_of_2(n_splits)), num_warps=4)
    return out


def attention(q, k_cache, v_cache, start_pos, window: int | None):
    """Causal (window None) or sliding-window attention of q against a KV cache; see the module doc.

    start_pos may also be an integer tensor of one element on q's device (the runtime's CUDA-graph
    decode step): then the decode kernel reads it from memory (decode_at)."""
    if isinstance(start_pos, torch.Tensor):
        if q.shape[2] > DECODE_MAX_POSITIONS or q.shape[2] * (q.shape[1] // k_cache.shape[1]) > DECODE_MAX_ROWS:
            raise ValueError("a position held in a tensor is supported for decode steps only")
        return decode_at(q, k_cache, v_cache, start_pos, window)
    _check(q, k_cache, v_cache, start_pos, window)
    C = q.shape[2]
    G = q.shape[1] // k_cache.shape[1]
    if C <= DECODE_MAX_POSITIONS and C * G <= DECODE_MAX_ROWS:
        return decode(q, k_cache, v_cache, start_pos, window)
    return prefill(q, k_cache, v_cache, start_pos, window)

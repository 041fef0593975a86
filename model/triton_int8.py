"""Weight-only int8 matrix times a few activation rows (decode), in Triton.

    int8_matmul(x, weight, scales) -> y

    x        [M, K] float16/bfloat16 (float32 too), M small: decoding 1..16 positions
    weight   [N, K] int8, row-major (Int8Linear's buffer)
    scales   [N], one per output row (any float dtype)
    y        [M, N] in x's dtype: x @ (weight * scales[:, None]).T, accumulated in float32

Decoding a token is bound by reading the weights. Dequantizing the whole matrix first (what
Int8Linear does for prefill) reads 1 byte per weight, writes 2 and reads 2 again; this kernel reads
each int8 weight once, converts it in registers and applies the row's scale once at the end.

Each program owns BLOCK_N output rows (weight rows) for all M activation rows and walks K in
BLOCK_K steps, loading a [BLOCK_N, BLOCK_K] int8 tile contiguous along K. Up to 4 activation rows
multiply the tile elementwise and reduce along K (tl.dot's tiles start at 16 rows); more go through
tl.dot with the weight tile as the left operand and the activation rows padded to 16.

When N / BLOCK_N programs would leave SMs idle (CWM's KV-sized projections), K is split between
programs too: each writes its float32 partial sums and a second small kernel adds them and rounds
to x's dtype.
"""

from __future__ import annotations

import os

import torch

# As in model/triton_attention.py: without CUDA only the interpreter can run these kernels, and
# triton decides at decoration time which of the two it is.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"

MAX_ROWS = 16  # activation rows one call takes (the dot path pads them to 16)
REDUCE_MAX_ROWS = 4  # up to this many rows: multiply and reduce; more: tl.dot

# No @jit library function of triton (tl.sum, tl.zeros, tl.cdiv) is called: when triton was
# imported before TRITON_INTERPRET was set, those are compiled-mode objects the interpreter cannot
# call (see model/triton_attention.py). Sums go through tl.reduce with triton's own combine function.
_add_combine = tl.standard._sum_combine


@triton.jit
def _int8_mm_kernel(X, W, S, Y, P, M, N, K, stride_xm, stride_wn, stride_ym,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                    SPLIT_K: tl.constexpr, USE_DOT: tl.constexpr, EVEN_K: tl.constexpr, IEEE: tl.constexpr,
                    K_STAGES: tl.constexpr):
    """acc[n, m] = sum_k W[n, k] * X[m, k] over this program's share of K, times S[n].

    SPLIT_K == 1: stored to Y[m, n] in Y's dtype. Otherwise stored as float32 to P[pid_k, m, n]."""
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    # Rows past the end repeat the last one, so no load needs a mask along N or M: their results are
    # not stored. Weight row offsets in int64: CWM's largest matrix (128256 x 6144 bytes) stays under
    # 2^31, but nothing here relies on it.
    rows_w = tl.minimum(offs_n, N - 1).to(tl.int64)
    rows_x = tl.minimum(offs_m, M - 1)
    w_rows = W + rows_w[:, None] * stride_wn  # [BLOCK_N, 1]

    if SPLIT_K == 1:
        k_lo = 0
        k_hi = K
    else:
        # Chunks of whole BLOCK_K blocks; trailing programs may get none and store zeros.
        chunk = (K + BLOCK_K * SPLIT_K - 1) // (BLOCK_K * SPLIT_K) * BLOCK_K
        k_lo = pid_k * chunk
        k_hi = tl.minimum(k_lo + chunk, K)

    acc = tl.full([BLOCK_N, BLOCK_M], 0.0, dtype=tl.float32)
    # An explicit stage count: without one, triton pipelines only loads that feed a tl.dot, and the
    # multiply-and-reduce path would wait for each tile. 1: no pipelining.
    for k0 in tl.range(k_lo, k_hi, BLOCK_K, num_stages=K_STAGES):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        if EVEN_K:
            w = tl.load(w_rows + offs_k[None, :])
        else:
            w = tl.load(w_rows + offs_k[None, :], mask=offs_k[None, :] < K, other=0)
        if USE_DOT:
            x_ptrs = X + rows_x[None, :] * stride_xm + offs_k[:, None]  # x transposed: [BLOCK_K, BLOCK_M]
            if EVEN_K:
                xt = tl.load(x_ptrs)
            else:
                xt = tl.load(x_ptrs, mask=offs_k[:, None] < K, other=0.0)
            # int8 -> 16-bit float is exact (|w| <= 128 needs 8 significant bits).
            if IEEE:  # float32 would otherwise run as TF32 on a GPU
                acc = tl.dot(w.to(xt.dtype), xt, acc, input_precision="ieee")
            else:
                acc = tl.dot(w.to(xt.dtype), xt, acc)
        else:
            wf = w.to(tl.float32)
            for m in tl.static_range(BLOCK_M):
                x_ptrs = X + tl.minimum(m, M - 1) * stride_xm + offs_k
                if EVEN_K:
                    xm = tl.load(x_ptrs)
                else:
                    xm = tl.load(x_ptrs, mask=offs_k < K, other=0.0)
                part = tl.reduce(wf * xm.to(tl.float32)[None, :], 1, _add_combine)  # [BLOCK_N]
                if BLOCK_M == 1:
                    acc += part[:, None]
                else:
                    acc = tl.where(offs_m[None, :] == m, acc + part[:, None], acc)

    out = acc * tl.load(S + rows_w).to(tl.float32)[:, None]
    keep = (offs_n[:, None] < N) & (offs_m[None, :] < M)
    if SPLIT_K == 1:
        tl.store(Y + offs_m[None, :] * stride_ym + offs_n[:, None], out.to(Y.dtype.element_ty), mask=keep)
    else:
        tl.store(P + (pid_k * M + offs_m[None, :]) * N + offs_n[:, None], out, mask=keep)


_int8_mm = triton.heuristics({"EVEN_K": lambda a: a["K"] % a["BLOCK_K"] == 0})(_int8_mm_kernel)


@triton.jit
def _sum_splits_kernel(P, Y, MN, SPLIT_K: tl.constexpr, BLOCK: tl.constexpr):
    """Y.flat[i] = sum_s P[s].flat[i], rounded to Y's dtype (Y contiguous [M, N])."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    keep = offs < MN
    acc = tl.load(P + offs, mask=keep, other=0.0)
    for s in tl.static_range(1, SPLIT_K):
        acc += tl.load(P + s * MN + offs, mask=keep, other=0.0)
    tl.store(Y + offs, acc.to(Y.dtype.element_ty), mask=keep)


# On a GPU the tile is picked by measurement once per (N, K, row bucket, split, dtypes) and process
# (about a second, plus compiling at first use). At most 64 weights of a tile per thread, so that the
# multiply-and-reduce path keeps its tile in registers (float32 after conversion).
def _config(block_n, block_k, warps, stages):
    return triton.Config({"BLOCK_N": block_n, "BLOCK_K": block_k, "K_STAGES": stages}, num_warps=warps,
                         num_stages=stages)


_CONFIGS = [
    # Five tiles, so that a model's first decode step compiles and times few variants per shape.
    _config(32, 256, 4, 1),  # plain loads, many programs in flight instead
    _config(32, 256, 4, 3),  # tiles copied ahead into shared memory (cp.async)
    _config(32, 512, 8, 3),
    _config(64, 256, 8, 3),
    _config(16, 512, 4, 3),  # the most programs: for the narrow (KV-sized) projections
]
_int8_mm_tuned = None if INTERPRET else triton.autotune(
    configs=_CONFIGS, key=["N", "K", "BLOCK_M", "SPLIT_K", "USE_DOT"])(_int8_mm)

# The interpreter's tile: small, so that the tests' shapes leave a partial block along N and K.
_INTERPRET_TILE = _config(32, 64, 4, 1)

_SM_COUNT: dict[int, int] = {}


def _sm_count(device) -> int:
    idx = device.index if device.index is not None else torch.cuda.current_device()
    if idx not in _SM_COUNT:
        _SM_COUNT[idx] = torch.cuda.get_device_properties(idx).multi_processor_count
    return _SM_COUNT[idx]


def default_split_k(N: int, K: int, device) -> int:
    """How many programs share K: 1 unless N / 64 row blocks leave SMs idle; then a power of two that
    gives about 2 programs per SM, keeping at least 512 of K per program."""
    if INTERPRET or device.type != "cuda":
        return 1
    blocks, sms = triton.cdiv(N, 64), _sm_count(device)
    if blocks >= sms:
        return 1
    split = 1
    while blocks * split < 2 * sms and split < 16 and K // (2 * split) >= 512:
        split *= 2
    return split


def _row_bucket(M: int) -> int:
    return triton.next_power_of_2(M) if M <= REDUCE_MAX_ROWS else MAX_ROWS


def int8_matmul(x: torch.Tensor, weight: torch.Tensor, scales: torch.Tensor, *, split_k: int | None = None,
                config: triton.Config | None = None) -> torch.Tensor:
    """y = x @ (weight * scales[:, None]).T for x [M <= 16, K]; see the module doc.

    split_k: programs sharing K instead of default_split_k's choice. config: a tile (BLOCK_N,
    BLOCK_K, K_STAGES, warps, stages; see _config) instead of the autotuner's or the interpreter's."""
    if x.dim() != 2 or weight.dim() != 2 or scales.dim() != 1:
        raise ValueError("int8_matmul needs x [M, K], weight [N, K] and scales [N]")
    M, K = x.shape
    N = weight.shape[0]
    if weight.shape[1] != K or scales.shape[0] != N:
        raise ValueError(f"x {tuple(x.shape)}, weight {tuple(weight.shape)} and scales {tuple(scales.shape)} "
                         "do not match")
    if weight.dtype != torch.int8:
        raise ValueError(f"weight must be int8, got {weight.dtype}")
    if x.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ValueError(f"x must be float16, bfloat16 or float32, got {x.dtype}")
    if M > MAX_ROWS:
        raise ValueError(f"int8_matmul takes at most {MAX_ROWS} rows, got {M}")
    if not (x.device == weight.device == scales.device):
        raise ValueError("x, weight and scales are on different devices")
    if x.device.type != "cuda" and not INTERPRET:
        raise ValueError("int8_matmul runs on CUDA tensors (or on the CPU with TRITON_INTERPRET=1)")
    y = torch.empty((M, N), dtype=x.dtype, device=x.device)
    if M == 0 or N == 0:
        return y
    if K == 0:
        return y.zero_()
    if x.stride(1) != 1:
        x = x.contiguous()
    if weight.stride(1) != 1:
        weight = weight.contiguous()
    scales = scales.contiguous()

    split = split_k or default_split_k(N, K, x.device)
    split = max(1, min(split, triton.cdiv(K, 16)))
    part = torch.empty((split, M, N), dtype=torch.float32, device=x.device) if split > 1 else y
    bucket = _row_bucket(M)
    meta = dict(BLOCK_M=bucket, SPLIT_K=split, USE_DOT=bucket > REDUCE_MAX_ROWS, IEEE=x.dtype == torch.float32)
    if config is not None:
        kernel, tile = _int8_mm, config.all_kwargs()
    elif INTERPRET or x.device.type != "cuda":
        kernel, tile = _int8_mm, _INTERPRET_TILE.all_kwargs()
    else:
        kernel, tile = _int8_mm_tuned, {}
    grid = lambda m: (triton.cdiv(N, m["BLOCK_N"]), split)  # noqa: E731
    kernel[grid](x, weight, scales, y, part, M, N, K, x.stride(0), weight.stride(0), y.stride(0), **meta, **tile)
    if split > 1:
        block = 1024
        _sum_splits_kernel[(triton.cdiv(M * N, block),)](part, y, M * N, SPLIT_K=split, BLOCK=block, num_warps=4)
    return y


def best_config() -> str:
    """The tile the autotuner last chose (GPU only), for reports."""
    if _int8_mm_tuned is None or getattr(_int8_mm_tuned, "best_config", None) is None:
        return ""
    c = _int8_mm_tuned.best_config
    return f"{c.kwargs} warps {c.num_warps} stages {c.num_stages}"

"""The int8 weight-only matrix-vector products of one decode step (model/triton_int8.py) at
CWM-32B's shapes: the Triton kernel against Int8Linear's dequantize-then-matmul and a bfloat16
F.linear, side by side. gpu_check.py's "int8 gemv" rows come from here.

    PYTHONPATH=. python benchmarks/int8_gemv.py [--rows 1]   # on a GPU; without CUDA the dry run's
                                                            # tiny shapes in Triton's interpreter
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch
from neurodebug.model.triton_int8 import _INTERPRET_TILE, best_config, default_split_k, int8_matmul

# CWM-32B's projections (dim 6144, 48 query / 8 KV heads of 128, FFN 21504, vocabulary 128256) as
# model/model.py lays them out (fused wqkv and w13), plus one KV-sized projection for split-K.
CWM_SHAPES = [
    ("wqkv 8192x6144", 8192, 6144),
    ("kv 1024x6144", 1024, 6144),
    ("wo 6144x6144", 6144, 6144),
    ("w13 43008x6144", 43008, 6144),
    ("w2 6144x21504", 6144, 21504),
    ("output 128256x6144", 128256, 6144),
]


# Tiny shapes for a dry run without CUDA (interpreter); a fourth element forces that split of K.
DRY_SHAPES = [("tiny 96x256", 96, 256), ("tiny split-K 40x512", 40, 512, 4)]


def bench_int8_gemv(dev="cuda", shapes=None, M: int = 1, rep_ms: int = 100) -> list[dict]:
    """Time one decode step's matmul per CWM-32B shape (N x K weight, M rows of bfloat16) three ways.

    shapes: (name, N, K) or (name, N, K, split_k) tuples. Returns one dict per shape: shape,
    ours_us (model/triton_int8.py's kernel), dequant_us (Int8Linear's dequantize-then-matmul), bf16_us (F.linear on a
    bfloat16 weight), ours_gbps (int8 weight and scale bytes over ours_us), bf16_gbps, max_rel_err
    (ours against float32 math, relative to the largest output), split_k, config (the tile the
    autotuner chose), nosplit_us (ours with split_k=1 where the heuristic splits K, else NaN) and
    error (empty unless the shape failed; its timings are then NaN). Never raises for one shape.

    On a GPU timings are medians of triton.testing.do_bench (L2 flushed); without CUDA (a dry run in
    the interpreter) shapes default to DRY_SHAPES, activations are float32 (the interpreter
    mishandles bfloat16) and a single timed call stands for the time."""
    import torch.nn.functional as F

    dev = torch.device(dev)
    cuda = dev.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    if shapes is None:
        shapes = CWM_SHAPES if cuda else DRY_SHAPES

    def bench(fn):
        fn()
        if cuda:
            import triton.testing

            return triton.testing.do_bench(fn, warmup=25, rep=rep_ms, return_mode="median") * 1e3
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) * 1e6

    rows = []
    nan = float("nan")
    for name, N, K, *forced in shapes:
        row = dict(shape=f"{name} M={M}", ours_us=nan, dequant_us=nan, bf16_us=nan, ours_gbps=nan, bf16_gbps=nan,
                   max_rel_err=nan, split_k=0, config="", nosplit_us=nan, error="")
        w = s = x = wb = None
        try:
            g = torch.Generator(device=dev).manual_seed(0)
            w = torch.randint(-127, 128, (N, K), dtype=torch.int8, device=dev, generator=g)
            s = (torch.rand(N, device=dev, generator=g) * 2e-3 + 1e-4).to(dtype)
            x = torch.randn(M, K, device=dev, generator=g).to(dtype)
            split = forced[0] if forced else default_split_k(N, K, dev)
            y = int8_matmul(x, w, s, split_k=split)  # autotunes on a GPU
            row["split_k"] = split
            row["config"] = best_config() if cuda else f"interpreter {_INTERPRET_TILE.kwargs}"
            ref = x.float() @ (w.float() * s.float()[:, None]).T
            row["max_rel_err"] = ((y.float() - ref).abs().max() / ref.abs().max()).item()
            del ref, y
            row["ours_us"] = bench(lambda: int8_matmul(x, w, s, split_k=split))
            row["ours_gbps"] = (N * K + N * s.element_size()) / (row["ours_us"] * 1e-6) / 1e9
            if split > 1:
                row["nosplit_us"] = bench(lambda: int8_matmul(x, w, s, split_k=1))
            row["dequant_us"] = bench(lambda: F.linear(x, w.to(x.dtype)) * s)
            wb = torch.randn(N, K, device=dev, generator=g).to(dtype)
            row["bf16_us"] = bench(lambda: F.linear(x, wb))
            row["bf16_gbps"] = N * K * wb.element_size() / (row["bf16_us"] * 1e-6) / 1e9
        except Exception as e:  # noqa: BLE001
            row["error"] = f"{type(e).__name__}: {e}"[:300]
        finally:
            w = s = x = wb = None  # free before the next shape
            if cuda:
                torch.cuda.empty_cache()
        rows.append(row)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1, help="activation rows M (decode: 1; at most 16)")
    args = p.parse_args(argv)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for r in bench_int8_gemv(dev, M=args.rows):
        if r["error"]:
            print(f"{r['shape']:<28} ERROR {r['error']}")
            continue
        split = "" if math.isnan(r["nosplit_us"]) else f"; unsplit {r['nosplit_us']:.1f} us"
        print(f"{r['shape']:<28} ours {r['ours_us']:8.1f} us ({r['ours_gbps']:,.0f} GB/s)  dequantize {r['dequant_us']:8.1f} us"
              f"  bf16 {r['bf16_us']:8.1f} us ({r['bf16_gbps']:,.0f} GB/s)  bf16/ours {r['bf16_us'] / r['ours_us']:.2f}x"
              f"  split-K {r['split_k']}{split}  max rel err {r['max_rel_err']:.1e}  {r['config']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

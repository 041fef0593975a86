"""One decode forward on the CPU: the runtime's against a plain reference forward, side by side.

Both run on the bundled model's weights with a warm KV cache of ``--context`` positions, for
steps of k = 1..24 new tokens (a decode step, a lookahead verify step), batch 1, on one and on
two torch threads, interleaved step by step (so a busy machine slows both alike):

* **plain**: the forward as the runtime wrote it before issue 16's per-forward work, written out
  here: row-major weights, a hand-written RMSNorm (6 ops), rope's cos/sin computed at every step
  and applied with chunk + cat, a boolean mask built in every layer, 3-D activations, the cache
  written by slice assignment;
* **runtime**: ``model/``'s forward as loaded by ``load_model`` (column-major linear weights,
  ``F.rms_norm``, a rope table, one additive mask per step shared by the layers and none for a
  lone decoded token, rows [T, dim]).

Reported per thread count and k: the median wall time and process CPU time of a forward (CPU
time counts what the process ran, not the time it waited for a core), the ratio plain/runtime,
and the largest logit difference between the two (and whether the argmax agreed at every step).

    python benchmarks/forward_speed.py [--context 800] [--reps 40] [--threads 1 2] [--k 1 2 4 8 16 24]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class PlainForward:
    """The reference: the runtime's forward before the per-forward work, on its own row-major
    copies of the model's weights (see the module docstring)."""

    def __init__(self, model):
        self.model, self.config = model, model.config
        # `.contiguous()` of a column-major weight is a row-major copy; of a row-major one, itself.
        self.layers = [{name: t.detach().contiguous() for name, t in layer.named_parameters()} for layer in model.layers]
        self.embedding = model.tok_embeddings.weight.detach().contiguous()
        self.norm = model.norm.weight.detach()
        self.output = model.output.weight.detach().contiguous()

    def __call__(self, idx, caches, start_pos: int, last: bool):
        import torch
        import torch.nn.functional as F
        from neurodebug.model.model import rope_cos_sin

        c = self.config
        H, K, D = c.n_heads, c.n_kv_heads, c.head_dim
        B, T = idx.shape
        x = F.embedding(idx, self.embedding)
        cos, sin = rope_cos_sin(self.model.inv_freq, start_pos, T, x.dtype)
        for i, (w, cache) in enumerate(zip(self.layers, caches)):
            qkv = F.linear(rms_norm(x, w["attention_norm.weight"], c.norm_eps), w["attention.wqkv.weight"])
            qkv = qkv.view(B, T, H + 2 * K, D)
            qk = qkv[:, :, : H + K]
            x1, x2 = qk.chunk(2, dim=-1)
            qk = qk * cos[:, None] + torch.cat((-x2, x1), dim=-1) * sin[:, None]
            q, k = qk[:, :, :H].transpose(1, 2), qk[:, :, H:].transpose(1, 2)
            v = qkv[:, :, H + K :].transpose(1, 2)
            y = attention(q, *write(cache, start_pos, k, v), start_pos, c.window(i))
            x = x + F.linear(y.transpose(1, 2).reshape(B, T, H * D), w["attention.wo.weight"])
            gate, up = F.linear(rms_norm(x, w["ffn_norm.weight"], c.norm_eps), w["feed_forward.w13.weight"]).chunk(2, -1)
            x = x + F.linear(F.silu(gate) * up, w["feed_forward.w2.weight"])
        if last:
            x = x[:, -1:]
        return F.linear(rms_norm(x, self.norm, c.norm_eps), self.output)


def rms_norm(x, weight, eps):
    import torch

    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)


def write(cache, start_pos: int, k, v):
    """The cache update of the plain forward: slice assignment, or an index across a ring's end."""
    import torch

    C, S = k.shape[2], cache.size
    first = start_pos % S
    if first + C <= S:
        cache.k[:, :, first : first + C] = k
        cache.v[:, :, first : first + C] = v
    else:
        slots = torch.arange(start_pos, start_pos + C, device=k.device) % S
        cache.k[:, :, slots] = k
        cache.v[:, :, slots] = v
    return cache.k, cache.v


def attention(q, k_cache, v_cache, start_pos: int, window):
    """SDPA with a boolean mask built for this layer, as the plain forward did."""
    import torch.nn.functional as F
    from neurodebug.model.attention import attention_mask, slot_positions

    C, S = q.shape[2], k_cache.shape[2]
    n = min(S, start_pos + C)
    k, v = k_cache[:, :, :n], v_cache[:, :, :n]
    mask = attention_mask(start_pos, C, slot_positions(start_pos, C, n, S, q.device), window)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=q.shape[1] != k.shape[1])


def timed(fn, *args, **kwargs):
    """(result, wall seconds, process CPU seconds) of fn(*args, **kwargs)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--context", type=int, default=800, help="positions in the KV cache before each step")
    ap.add_argument("--reps", type=int, default=40, help="steps per (threads, k), each side")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--k", type=int, nargs="*", default=[1, 2, 4, 8, 16, 24], help="new tokens per step")
    args = ap.parse_args()

    import torch
    from neurodebug.model import load_model

    from neurodebug.backends import bundled_model

    runtime = load_model(bundled_model())
    model, plain = runtime.model, PlainForward(runtime.model)
    ids = torch.randint(0, model.config.vocab_size, (1, args.context + args.reps + max(args.k)),
                        generator=torch.Generator().manual_seed(0))
    seqs = [runtime.sequence(ids[0, : args.context].tolist()) for _ in range(2)]  # runtime's, plain's
    for seq in seqs:
        for cache in seq.caches:
            cache.reserve(ids.shape[1])
    print(f"bundled model ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters), float32, "
          f"batch 1, {args.context} cached positions; median of {args.reps} steps per row, plain and runtime "
          f"interleaved; load average {os.getloadavg()[0]:.1f}")
    print(f"{'threads':>7s} {'k':>3s} {'plain ms':>9s} {'runtime ms':>11s} {'ratio':>6s} {'plain CPU':>10s} "
          f"{'runtime CPU':>12s} {'ratio':>6s} {'max |dlogit|':>13s} {'argmax':>7s}")
    with torch.inference_mode():
        for threads in args.threads:
            torch.set_num_threads(threads)
            for k in args.k:
                row(model, plain, seqs, ids, args, threads, k)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


def row(model, plain, seqs, ids, args, threads: int, k: int) -> None:
    wall, cpu, diff, same = {"plain": [], "runtime": []}, {"plain": [], "runtime": []}, 0.0, True
    for rep in range(-3, args.reps):  # three warm-up steps
        pos = args.context + max(rep, 0)
        idx = ids[:, pos : pos + k]
        last = k == 1
        runs = {}
        order = ("plain", "runtime") if rep % 2 else ("runtime", "plain")
        for name in order:
            if name == "plain":
                runs[name] = timed(plain, idx, seqs[1].caches, pos, last)
            else:
                runs[name] = timed(model, idx, seqs[0].caches, pos, logits="last" if last else "all")
        if rep < 0:
            continue
        for name, (_, w, c) in runs.items():
            wall[name].append(w)
            cpu[name].append(c)
        a, b = runs["plain"][0], runs["runtime"][0]
        diff = max(diff, float((a - b).abs().max()))
        same = same and bool((a.argmax(-1) == b.argmax(-1)).all())
    med = {name: (1000 * statistics.median(wall[name]), 1000 * statistics.median(cpu[name])) for name in wall}
    (pw, pc), (rw, rc) = med["plain"], med["runtime"]
    print(f"{threads:7d} {k:3d} {pw:9.2f} {rw:11.2f} {pw / rw:5.2f}x {pc:10.2f} {rc:12.2f} {pc / rc:5.2f}x "
          f"{diff:13.1e} {'same' if same else 'DIFFER':>7s}")


if __name__ == "__main__":
    raise SystemExit(main())

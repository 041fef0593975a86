"""One-shot GPU check of the Triton attention kernels and the runtime at CWM-32B's shapes.

    PYTHONPATH=. python benchmarks/gpu_check.py            # on a machine with one H100/H200 (< 8 min)
    PYTHONPATH=. python benchmarks/gpu_check.py --dry-run  # tiny shapes; runs without CUDA (interpreter)

Needs only torch and triton (plus this repository's model/). Every section runs in its own child
process under a time cap, so a failing, crashing or hanging section becomes one line of the summary
table and the check goes on. benchmarks/README.md describes the output.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback

ROW_TAG = "@@ROW "

# name, share of the time budget, what it measures. Time a section leaves unused passes on to the
# next ones; a section's limit is what its share allows by the plan, never past the budget.
SECTIONS = [
    ("device", 0.04, "device, versions, device-to-device copy bandwidth"),
    ("correctness", 0.12, "bf16 kernels against the reference at 48 q / 8 kv heads, head_dim 128"),
    ("prefill", 0.20, "prefill TFLOP/s, ours against torch SDPA"),
    ("decode", 0.14, "decode attention GB/s against the copy bandwidth"),
    ("model-bf16", 0.22, "CWM-32B-shaped model, random bf16 weights"),
    ("model-int8", 0.28, "CWM-32B-shaped model, random int8 weights, and the int8 gemv kernel"),
]
DEFAULT_BUDGET_S = 300  # whole run; the GPU tool's device time also pays for the machine's start


# ----------------------------------------------------------------------------- shapes

class Full:
    """CWM-32B's attention shapes on a GPU."""
    dry = False
    heads, kv_heads, head_dim = 48, 8, 128
    prefill_lengths = (2048, 8192, 32768)
    window = 8192
    decode_contexts = (4096, 32768)
    check_prefill = 2048  # correctness shapes: small enough for an fp32 reference
    check_window = 1000  # not a multiple of any block size
    model_context, model_prompt, model_decode_tokens = 4096, 8192, 32


class Dry:
    """Tiny shapes that exercise the same code paths on a CPU (Triton interpreter) in seconds."""
    dry = True
    heads, kv_heads, head_dim = 6, 2, 64
    prefill_lengths = (64,)
    window = 24
    decode_contexts = (80,)
    check_prefill = 48
    check_window = 13
    model_context, model_prompt, model_decode_tokens = 40, 48, 3


# ----------------------------------------------------------------------------- child helpers

def emit(section, item, ours="", base="", ratio="", note=""):
    row = dict(section=section, item=item, ours=ours, base=base, ratio=ratio, note=note)
    print(ROW_TAG + json.dumps(row), flush=True)


def device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync(dev):
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def bench_ms(fn, dev, rep_ms=60):
    """Median milliseconds of fn(); on a GPU triton's do_bench (L2 flushed between runs)."""
    if dev.type == "cuda":
        import triton.testing

        return triton.testing.do_bench(fn, warmup=25, rep=rep_ms, return_mode="median")
    fn()
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def copy_gbps(dev, args):
    """Device-to-device copy bandwidth (bytes read + written per second), measured here unless the
    device section already measured it in this run."""
    if args.copy_gbps:
        return args.copy_gbps
    import torch

    n = (1 << 30) if dev.type == "cuda" else (1 << 22)
    src = torch.empty(n, dtype=torch.uint8, device=dev)
    dst = torch.empty_like(src)
    ms = bench_ms(lambda: dst.copy_(src), dev)
    return 2 * n / (ms * 1e-3) / 1e9


def fmt(x, unit=""):
    if x is None:
        return "-"
    if isinstance(x, float):
        x = f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"
    return f"{x} {unit}".strip()


def fill_cache(keys, values, S):
    """Ring-write positions 0..T-1 of keys/values [B, Hkv, T, D] into caches of S slots."""
    import torch

    T = keys.shape[2]
    k_cache = torch.empty(keys.shape[:2] + (S, keys.shape[3]), dtype=keys.dtype, device=keys.device)
    v_cache = torch.empty_like(k_cache)
    slots = torch.arange(T, device=keys.device) % S
    keep = torch.arange(T, device=keys.device) >= T - S  # the last S positions own their slots
    k_cache[:, :, slots[keep]] = keys[:, :, keep]
    v_cache[:, :, slots[keep]] = values[:, :, keep]
    return k_cache, v_cache


def reference_fn():
    """The runtime's reference (model/attention.py) when present, else the definition written here."""
    try:
        from neurodebug.model.attention import reference_attention

        return reference_attention, "model.attention.reference_attention"
    except Exception:  # noqa: BLE001 - the runtime may not be importable on this machine
        import torch

        def reference(q, k_cache, v_cache, start_pos, window):
            B, Hq, C, D = q.shape
            S, G = k_cache.shape[2], Hq // k_cache.shape[1]
            lo = 0 if window is None else max(0, start_pos - window + 1)
            kpos = torch.arange(lo, start_pos + C, device=q.device)
            k = k_cache[:, :, kpos % S].repeat_interleave(G, 1)
            v = v_cache[:, :, kpos % S].repeat_interleave(G, 1)
            qpos = torch.arange(start_pos, start_pos + C, device=q.device)[:, None]
            mask = kpos[None, :] <= qpos
            if window is not None:
                mask &= kpos[None, :] > qpos - window
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)

        return reference, "reference written in gpu_check.py"


# ----------------------------------------------------------------------------- sections

def section_device(args, shp):
    import torch
    import triton

    dev = device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU (Triton interpreter)"
    emit("device", "device", name, note=f"torch {torch.__version__}, triton {triton.__version__}, "
         f"python {sys.version.split()[0]}")
    gbps = copy_gbps(dev, args)
    emit("device", "copy bandwidth (read+write)", fmt(gbps, "GB/s"), note=f"COPY_GBPS={gbps:.1f}")


def section_correctness(args, shp):
    import torch
    from neurodebug.model import triton_attention as ta

    dev = device()
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float16  # the interpreter mishandles bf16
    ref, ref_name = reference_fn()
    Hq, Hkv, D = shp.heads, shp.kv_heads, shp.head_dim
    W = shp.check_window
    T = shp.check_prefill
    g = torch.Generator(device=dev).manual_seed(0)
    n_total = 3 * T
    keys = torch.randn(1, Hkv, n_total, D, generator=g, device=dev, dtype=dtype)
    values = torch.randn(1, Hkv, n_total, D, generator=g, device=dev, dtype=dtype)
    q_all = torch.randn(1, Hq, n_total, D, generator=g, device=dev, dtype=dtype)
    # (label, start_pos, C, window, cache slots, kernel)
    cases = [
        ("prefill global, fresh", 0, T, None, T, "prefill"),
        ("prefill global, chunk at offset", T // 2, T // 2, None, T, "prefill"),
        (f"prefill W={W}, ring wrapped", 2 * T, T, W, W + T, "prefill"),
        ("decode global, 1 position", 2 * T, 1, None, 2 * T + 1, "decode"),
        ("decode global, 4 positions", 2 * T, 4, None, 2 * T + 4, "decode"),
        (f"decode W={W}, ring wrapped", 3 * T - 1, 1, W, W + 16, "decode"),
    ]
    emit("correctness", "reference", ref_name, note=f"{dtype}; truth = the reference in float32")
    for label, start, C, window, S, kernel in cases:
        try:
            k_cache, v_cache = fill_cache(keys[:, :, :start + C], values[:, :, :start + C], S)
            q = q_all[:, :, start:start + C]
            truth = ref(q.float(), k_cache.float(), v_cache.float(), start, window).float()
            ours = getattr(ta, kernel)(q, k_cache, v_cache, start, window)
            via_attention = ta.attention(q, k_cache, v_cache, start, window)
            theirs = ref(q, k_cache, v_cache, start, window).float()
            err = (ours.float() - truth).abs().max().item()
            ref_err = (theirs - truth).abs().max().item()
            same = torch.equal(ours, via_attention)
            ok = math.isfinite(err) and err <= 2 * ref_err + 2e-3 and same
            emit("correctness", f"{label} [{kernel}]", f"max err {err:.2e}", f"ref {dtype} {ref_err:.2e}",
                 "", ("PASS" if ok else "FAIL") + ("" if same else " (attention() picked the other kernel)"))
        except Exception as e:  # noqa: BLE001 - one case failing must not hide the others
            emit("correctness", f"{label} [{kernel}]", note=f"ERROR {type(e).__name__}: {e}"[:300])


def visible_pairs(T, window):
    if window is None or window >= T:
        return T * (T + 1) // 2
    return window * (window + 1) // 2 + (T - window) * window


def section_prefill(args, shp):
    import torch
    import torch.nn.functional as F
    from neurodebug.model import triton_attention as ta

    dev = device()
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float16
    Hq, Hkv, D = shp.heads, shp.kv_heads, shp.head_dim
    G = Hq // Hkv
    for T in shp.prefill_lengths:
        for window in (None, shp.window):
            label = f"T={T} " + ("global" if window is None else f"W={window}")
            try:
                g = torch.Generator(device=dev).manual_seed(T)
                q = torch.randn(1, Hq, T, D, generator=g, device=dev, dtype=dtype)
                k = torch.randn(1, Hkv, T, D, generator=g, device=dev, dtype=dtype)
                v = torch.randn(1, Hkv, T, D, generator=g, device=dev, dtype=dtype)
                flops = 4 * D * Hq * visible_pairs(T, window)
                ms = bench_ms(lambda: ta.prefill(q, k, v, 0, window), dev)
                ours = flops / (ms * 1e-3) / 1e12
                # SDPA gets the KV heads expanded (outside the timing): its fastest causal path.
                k_rep, v_rep = k.repeat_interleave(G, 1), v.repeat_interleave(G, 1)
                if window is None or window >= T:
                    sdpa = lambda: F.scaled_dot_product_attention(q, k_rep, v_rep, is_causal=True)  # noqa: E731
                    how = "SDPA is_causal"
                else:
                    i = torch.arange(T, device=dev)
                    mask = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - window)
                    sdpa = lambda: F.scaled_dot_product_attention(q, k_rep, v_rep, attn_mask=mask)  # noqa: E731
                    how = "SDPA with a band mask computes all T^2 pairs"
                base_ms = bench_ms(sdpa, dev)
                base = flops / (base_ms * 1e-3) / 1e12
                goal = "" if shp.dry else ("goal met" if ours >= base else "below goal (>= SDPA)")
                emit("prefill", label, fmt(ours, "TFLOP/s"), fmt(base, "TFLOP/s"), f"{ours / base:.2f}x",
                     f"{ms:.2f} ms vs {base_ms:.2f} ms; {how}; {goal}".strip("; "))
                del q, k, v, k_rep, v_rep
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
            except Exception as e:  # noqa: BLE001
                emit("prefill", label, note=f"ERROR {type(e).__name__}: {e}"[:300])


def graph_ms(calls, dev):
    """GPU milliseconds per call, with no launch overhead: one CUDA graph replays all of ``calls``
    (each on its own buffers, together larger than L2, so every call reads from memory)."""
    import torch

    for c in calls:  # compiles, and leaves nothing lazy for the capture
        c()
    sync(dev)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for c in calls:
            c()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for c in calls:
            c()
    graph.replay()
    sync(dev)
    reps = 10
    t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    t0.record()
    for _ in range(reps):
        graph.replay()
    t1.record()
    sync(dev)
    return t0.elapsed_time(t1) / (reps * len(calls))


def section_decode(args, shp):
    """Decode attention: GPU time per call (CUDA graph, cold L2) as the kernel's bandwidth; the eager
    time of one Python call (launch overhead included) in the note, with a sweep of split counts."""
    import torch
    from neurodebug.model import triton_attention as ta

    dev = device()
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float16
    Hq, Hkv, D = shp.heads, shp.kv_heads, shp.head_dim
    bw = copy_gbps(dev, args)
    ref, _ = reference_fn()
    cases = [(ctx, None, ctx + 1) for ctx in shp.decode_contexts]
    ctx = shp.decode_contexts[-1]
    cases.append((ctx, shp.window, shp.window + 64))  # a ring that has wrapped many times
    for ctx, window, S in cases:
        label = f"context {ctx} " + ("global" if window is None else f"W={window} ring")
        try:
            g = torch.Generator(device=dev).manual_seed(ctx)
            start = ctx - 1  # the new token's position: it sees ctx keys (or the window)
            seen = ctx if window is None else min(ctx, window)
            nbytes = 2 * seen * Hkv * D * dtype.itemsize
            cache_bytes = 2 * S * Hkv * D * dtype.itemsize
            n_sets = max(2, math.ceil((512 << 20) / cache_bytes)) if dev.type == "cuda" else 1
            sets = [(torch.randn(1, Hq, 1, D, generator=g, device=dev, dtype=dtype),
                     torch.randn(1, Hkv, S, D, generator=g, device=dev, dtype=dtype),
                     torch.randn(1, Hkv, S, D, generator=g, device=dev, dtype=dtype)) for _ in range(n_sets)]
            q, k_cache, v_cache = sets[0]
            eager_ms = bench_ms(lambda: ta.decode(q, k_cache, v_cache, start, window), dev)
            ref_ms = bench_ms(lambda: ref(q, k_cache, v_cache, start, window), dev)
            if dev.type != "cuda":
                gbps = nbytes / (eager_ms * 1e-3) / 1e9
                emit("decode", label, fmt(gbps, "GB/s"), fmt(bw, "GB/s copy"), f"{gbps / bw:.0%}",
                     f"eager {eager_ms * 1e3:.1f} us; torch reference {ref_ms * 1e3:.1f} us")
                continue

            def timed(n_splits):
                return graph_ms([lambda s=s: ta.decode(*s, start, window, n_splits=n_splits) for s in sets], dev)

            ms = timed(None)
            gbps = nbytes / (ms * 1e-3) / 1e9
            sweep = []
            for n in (8, 16, 32, 64, 128):
                if n * ta.MIN_SPLIT_KEYS // 4 <= seen:
                    try:
                        sweep.append(f"{n}:{nbytes / (timed(n) * 1e-3) / 1e12:.2f}")
                    except Exception as e:  # noqa: BLE001
                        sweep.append(f"{n}:{type(e).__name__}")
            goal = "" if shp.dry else ("goal met" if gbps >= 0.7 * bw else "below goal (>= 70% of copy)")
            emit("decode", label, fmt(gbps, "GB/s"), fmt(bw, "GB/s copy"), f"{gbps / bw:.0%}",
                 f"{ms * 1e3:.1f} us GPU time (CUDA graph, cold L2) for {nbytes / 1e6:.0f} MB of K+V; "
                 f"eager call {eager_ms * 1e3:.1f} us; torch reference eager {ref_ms * 1e3:.1f} us; "
                 f"splits:TB/s {' '.join(sweep)}; {goal}".strip("; "))
            del sets, q, k_cache, v_cache
            torch.cuda.empty_cache()
        except Exception as e:  # noqa: BLE001
            emit("decode", label, note=f"ERROR {type(e).__name__}: {e}"[:300])


def _model_config(shp):
    from neurodebug.model.config import GLOBAL, SLIDING, ModelConfig

    if shp.dry:
        cfg = dict(vocab_size=512, dim=128, n_layers=4, n_heads=shp.heads, n_kv_heads=shp.kv_heads,
                   head_dim=shp.head_dim, intermediate_size=256, sliding_window=16)
    else:
        cfg = dict(vocab_size=128256, dim=6144, n_layers=64, n_heads=48, n_kv_heads=8, head_dim=128,
                   intermediate_size=21504, sliding_window=8192)
    # CWM's pattern: every 4th layer, from the first, global; the others sliding.
    cfg["layer_types"] = [GLOBAL if i % 4 == 0 else SLIDING for i in range(cfg["n_layers"])]
    return ModelConfig(**cfg)


def _random_model(config, dev, quantize):
    """The runtime's Transformer with random weights made on the device (no checkpoint)."""
    import torch
    from neurodebug.model.model import Transformer, rope_frequencies
    from neurodebug.model.quantize import swap_for_int8

    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    with torch.device("meta"):
        # in the weights' dtype already on the meta device: converting after to_empty would
        # need a second copy of 32B parameters (the H200 run of 2026-11-26 built float32, 130 GB)
        model = Transformer(config).to(dtype)
        if quantize == "int8":
            swap_for_int8(model, dtype)
    model = model.to_empty(device=dev)
    std = 0.5 / math.sqrt(config.dim)  # keeps activations finite through 64 random layers
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("inv_freq"):
                continue
            if t.dtype == torch.int8:
                t.random_(-127, 128)
            elif name.endswith("scales"):
                t.fill_(std / 73.0)  # uniform int8 has std ~73
            elif "norm" in name:
                t.fill_(1.0)
            else:
                t.normal_(0.0, std)
    model.inv_freq = rope_frequencies(config, device=dev)
    return model.eval().requires_grad_(False)


def section_model(args, shp, quantize):
    import torch

    sec = "model-int8" if quantize else "model-bf16"
    try:
        from neurodebug.model.attention import reference_attention, select_attention
        from neurodebug.model.runtime import CWM
    except Exception as e:  # noqa: BLE001 - the runtime is another helper's part: report, go on
        emit(sec, "runtime", note=f"SKIPPED: model/ runtime not importable ({type(e).__name__}: {e})"[:300])
        return
    dev = device()
    bw = copy_gbps(dev, args)
    config = _model_config(shp)
    t0 = time.perf_counter()
    model = _random_model(config, dev, quantize)
    name, fn = select_attention("triton", dev)
    model.attention_fn = fn
    # The runtime's defaults (prefill chunks of 2048 on a GPU), decoding eagerly first: the CUDA
    # graph rows come after (graph_rows).
    rt = CWM(model, None, attention=name, cuda_graphs=False)
    sync(dev)
    wbytes = rt.weight_bytes()
    emb = model.tok_embeddings
    emb_bytes = sum(t.numel() * t.element_size() for t in list(emb.parameters()) + list(emb.buffers()))
    emit(sec, "weights", fmt(wbytes / 1e9, "GB"), note=f"{config.param_count() / 1e9:.1f}B params, "
         f"{config.n_global} global + {config.n_sliding} sliding layers, built in {time.perf_counter() - t0:.0f} s")

    g = torch.Generator().manual_seed(0)
    V = config.vocab_size
    ctx, n_new = shp.model_context, shp.model_decode_tokens
    prompt = torch.randint(0, V, (ctx,), generator=g).tolist()
    with torch.inference_mode():
        sync(dev)
        t = time.perf_counter()
        seq = rt.sequence(prompt)
        sync(dev)
        emit(sec, f"prefill {ctx}-token prompt", fmt(ctx / (time.perf_counter() - t), "tok/s"),
             note=f"chunks of {rt.chunk_size}; includes first-call compilation")

        # Decode at this context: the runtime's own generate loop (greedy, one token per forward).
        dt = timed_decode(seq, n_new, dev)
        tok_s = n_new / dt
        kv_bytes = config.kv_bytes(ctx, 2 if dev.type == "cuda" else 4)
        step_bytes = wbytes - emb_bytes + kv_bytes  # what one decode step must read at least
        bound = bw * 1e9 / step_bytes
        goal = "" if shp.dry else ("goal met" if tok_s >= 0.75 * bound else "below goal (>= 75% of bound)")
        emit(sec, f"decode at {ctx} context", fmt(tok_s, "tok/s"), fmt(bound, "tok/s bound"),
             f"{tok_s / bound:.0%}", f"{dt / n_new * 1e3:.1f} ms/token; bound = {step_bytes / 1e9:.3g} GB "
             f"(weights without embedding + KV) / {bw:.3g} GB/s; {goal}".strip("; "))

        graph_rows(sec, rt, seq, n_new, bound, step_bytes, bw, g, V, shp)
        if not quantize:
            lookahead_rows(sec, rt, seq, n_new, g, V)

        # Triton against the reference on the same state: one more token through each backend.
        fork = seq.fork()
        tok = [int(torch.randint(0, V, (1,), generator=g))]
        a = seq.extend(tok, logits="last")
        model.attention_fn = reference_attention
        b = fork.extend(tok, logits="last")
        model.attention_fn = fn
        diff = (a - b).abs().max().item()
        same = int(a.argmax()) == int(b.argmax())
        emit(sec, "triton vs reference logits", f"max diff {diff:.3g}", note=f"same argmax: {same}; "
             f"logit range {b.min().item():.3g}..{b.max().item():.3g}")
        del seq, fork
        if dev.type == "cuda":
            torch.cuda.empty_cache()

        n_prompt = shp.model_prompt
        prompt = torch.randint(0, V, (n_prompt,), generator=g).tolist()
        seq = rt.sequence()
        sync(dev)
        t = time.perf_counter()
        seq.extend(prompt, logits="last")
        sync(dev)
        dt = time.perf_counter() - t
        emit(sec, f"prefill {n_prompt}-token prompt", fmt(n_prompt / dt, "tok/s"),
             note=f"{dt:.2f} s in chunks of {rt.chunk_size}")
        del seq
    if quantize and dev.type == "cuda":
        del model, rt
        torch.cuda.empty_cache()
        gemv_rows(sec)


def timed_decode(seq, n_new, dev) -> float:
    """Seconds for n_new greedy tokens of seq.generate, after 3 that compile (or capture) first."""
    seq.generate(3)
    sync(dev)
    t = time.perf_counter()
    seq.generate(n_new)
    sync(dev)
    return time.perf_counter() - t


@contextlib.contextmanager
def graph_steps(sec, item, rt):
    """A block of rows that decodes with CUDA graphs (without CUDA, --dry-run: the same one-token
    steps eagerly with the position in a tensor). Yields the function that turns them on; after
    the block they are off and the GPU's cache is freed. An error ends the block as one ERROR row
    named ``item``, and the section goes on."""
    import torch

    flag = "cuda_graphs" if rt.device.type == "cuda" else "tensor_positions"

    def turn_on():
        setattr(rt, flag, True)

    try:
        yield turn_on
    except Exception as e:  # noqa: BLE001
        emit(sec, item, note=f"ERROR {type(e).__name__}: {e}"[:300])
        traceback.print_exc()
    finally:
        setattr(rt, flag, False)
        if rt.device.type == "cuda":
            torch.cuda.empty_cache()


def graph_rows(sec, rt, seq, n_new, bound, step_bytes, bw, g, V, shp):
    """The same decode with CUDA graphs (CWM(cuda_graphs=True)): the logits of 8 fed tokens against
    eager decoding from the same state, then greedy tok/s."""
    import torch

    dev = rt.device
    with graph_steps(sec, "CUDA graph decode", rt) as graphs_on:
        toks = torch.randint(0, V, (8,), generator=g).tolist()
        eager, graphed = seq.fork(), seq.fork()
        want = [eager.extend([t], logits="last") for t in toks]
        graphs_on()
        sync(dev)
        t = time.perf_counter()
        got = [graphed.extend([t], logits="last") for t in toks]  # the first step captures
        sync(dev)
        first_s = time.perf_counter() - t
        diff = max((a - b).abs().max().item() for a, b in zip(got, want))
        same = sum(int(a.argmax()) == int(b.argmax()) for a, b in zip(got, want))
        emit(sec, "CUDA graph vs eager logits", f"max diff {diff:.3g}", note=f"same argmax {same}/8 for 8 fed "
             f"tokens (split counts differ, so sums differ in order); the 8 steps with the capture took {first_s:.2f} s")
        dt = timed_decode(graphed, n_new, dev)
        tok_s = n_new / dt
        goal = "" if shp.dry else ("goal met" if tok_s >= 0.75 * bound else "below goal (>= 75% of bound)")
        emit(sec, f"decode at {shp.model_context} context, CUDA graph", fmt(tok_s, "tok/s"), fmt(bound, "tok/s bound"),
             f"{tok_s / bound:.0%}", f"{dt / n_new * 1e3:.1f} ms/token; bound = {step_bytes / 1e9:.3g} GB / "
             f"{bw:.3g} GB/s; {goal}".strip("; "))
        del eager, graphed


def lookahead_rows(sec, rt, seq, n_new, g, V):
    """Jump-forward + prompt lookup (model/lookahead.py) at this size: the time of one verify
    forward of k tokens against a one-token step (the price of a draft), then greedy decoding of
    a prompt that repeats itself (random weights: what the draft gets accepted is whatever the
    model repeats) with and without lookahead, CUDA graphs on for the one-token steps of both;
    the tokens must be the same."""
    import torch
    from neurodebug.model.lookahead import Lookahead

    dev = rt.device
    with graph_steps(sec, "lookahead", rt) as graphs_on:
        graphs_on()
        base = seq.fork()
        last = base.extend((), logits="from_last")[-1]
        n = len(base)
        one = None
        for k in (1, 8, 24):
            toks = torch.randint(0, V, (k,), generator=g).tolist()
            times = []
            for _ in range(4):  # the first compiles (or captures the graph): not counted
                sync(dev)
                t = time.perf_counter()
                base.extend(toks, logits="from_last" if k > 1 else "last")
                sync(dev)
                times.append(time.perf_counter() - t)
                base.truncate(n, last_logits=last)  # back, nothing recomputed
            ms = 1e3 * min(times[1:])
            one = one or ms
            emit(sec, f"verify forward of {k} token{'s' if k > 1 else ''}", fmt(ms, "ms"), fmt(one, "ms (1 token)"),
                 f"{ms / one:.2f}x", "eager, logits of every row" if k > 1 else "one-token step (graph on CUDA)")
        piece = torch.randint(0, V, (48,), generator=g).tolist()
        prompt = piece * 4
        runs = {}
        for label, lookahead in (("one forward per token", None), ("lookahead", Lookahead())):
            s2 = rt.sequence(prompt)
            s2.generate(3)  # warm: compile or capture
            f0 = s2.forwards
            sync(dev)
            t = time.perf_counter()
            out = s2.generate(n_new, lookahead=lookahead)
            sync(dev)
            runs[label] = (out, time.perf_counter() - t, s2.forwards - f0)
            del s2
        (a, ta, fa), (b, tb, fb) = runs["one forward per token"], runs["lookahead"]
        emit(sec, "greedy decode, repetitive prompt", fmt(n_new / tb, "tok/s"), fmt(n_new / ta, "tok/s (1/token)"),
             f"{ta / tb:.2f}x", f"forwards {fb} vs {fa} for {n_new} tokens; same tokens: {a == b}")
        del base


def gemv_rows(sec):
    """The int8 weight-only matrix-vector products of one decode step, at CWM-32B's shapes."""
    try:
        from int8_gemv import bench_int8_gemv  # benchmarks/int8_gemv.py, beside this script
    except Exception as e:  # noqa: BLE001
        emit(sec, "int8 gemv", note=f"SKIPPED: int8_gemv / model.triton_int8 not importable ({type(e).__name__}: {e})"[:300])
        return
    for r in bench_int8_gemv(device()):
        if r.get("error"):
            emit(sec, f"int8 gemv {r.get('shape')}", note=f"ERROR {r['error']}"[:300])
            continue
        emit(sec, f"int8 gemv {r['shape']}", f"{r['ours_us']:.1f} us", f"bf16 {r['bf16_us']:.1f} us",
             f"{r['bf16_us'] / r['ours_us']:.2f}x", f"{r['ours_gbps']:,.0f} GB/s; dequantize-then-matmul "
             f"{r['dequant_us']:.1f} us")


SECTION_FNS = {
    "device": section_device,
    "correctness": section_correctness,
    "prefill": section_prefill,
    "decode": section_decode,
    "model-bf16": lambda a, s: section_model(a, s, None),
    "model-int8": lambda a, s: section_model(a, s, "int8"),
}


def run_child(args):
    shp = Dry if args.dry_run else Full
    if os.environ.get("GPU_CHECK_HANG") == args.section:  # tests: a section that never returns
        emit(args.section, "hang", note="started")
        while True:
            time.sleep(1)
    try:
        SECTION_FNS[args.section](args, shp)
    except Exception as e:  # noqa: BLE001
        emit(args.section, "section", note=f"ERROR {type(e).__name__}: {e}"[:300])
        traceback.print_exc()
        return 1
    return 0


# ----------------------------------------------------------------------------- offline compile

def compile_only(arch):
    """Compile every kernel variant the GPU run uses for sm_<arch>, without a GPU (Triton's own
    LLVM and ptxas), and print what the compiler made of the loads: vectorised (16-byte) and
    pipelined (cp.async) or not. Catches compile errors the interpreter cannot."""
    os.environ["TRITON_INTERPRET"] = "0"
    import re

    import triton
    from neurodebug.model import triton_attention as ta
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    target = GPUTarget("cuda", arch, 32)
    ptr_args = ("Q", "K", "V", "O", "Op", "Lp", "POS")

    def build(fn, dtype, consts, **opts):
        sig, attrs = {}, {}
        for i, a in enumerate(fn.arg_names):
            if a in consts:
                sig[a] = "constexpr"
            elif a in ptr_args:
                sig[a] = "*fp32" if a in ("Op", "Lp") else "*i64" if a == "POS" else dtype
            else:
                sig[a] = "fp32" if a == "qk_scale" else "i32"
            # What the launcher specialises on at run time: 16-aligned pointers, strides % 16 == 0.
            if a in ptr_args or a.startswith("stride"):
                attrs[(i,)] = [["tt.divisibility", 16]]
        t = time.perf_counter()
        try:
            k = triton.compile(ASTSource(fn, sig, constexprs=consts, attrs=attrs), target=target, options=opts)
        except Exception as e:  # noqa: BLE001
            print(f"FAIL {fn.__name__} {dtype} {consts} {opts}: {type(e).__name__}: {str(e)[:300]}")
            return False
        ir = k.asm["ttgir"]
        vec = sorted(set(int(v) for v in re.findall(r"sizePerThread = \[(?:1, )?(\d+)", ir)))
        print(f"ok   {fn.__name__:22s} {dtype:6s} {consts} {opts} {time.perf_counter() - t:5.1f} s, "
              f"shared {k.metadata.shared} B, cp.async {len(re.findall('async_copy_global_to_local', ir))}, "
              f"wgmma {len(re.findall('warp_group_dot ', ir))}, elements/thread {vec}", flush=True)
        return True

    ok = True
    for dtype in ("*bf16", "*fp16"):
        for window in (False, True):
            for G, D in ((6, 128), (2, 64)):
                for c in ta._PREFILL_CONFIGS:
                    ok &= build(ta._prefill_kernel, dtype, dict(G=G, HEAD_D=D, HAS_WINDOW=window, IEEE=False,
                                                                **c.kwargs),
                                num_warps=c.num_warps, num_stages=c.num_stages)
                for in_memory in (False, True):
                    ok &= build(ta._decode_split_kernel, dtype, dict(G=G, HEAD_D=D, BLOCK_M=16, BLOCK_N=64,
                                                                     HAS_WINDOW=window, IEEE=False,
                                                                     POS_IN_MEMORY=in_memory),
                                num_warps=4, num_stages=3)
        ok &= build(ta._decode_merge_kernel, dtype, dict(G=6, HEAD_D=128, BLOCK_S=64), num_warps=4)
    return 0 if ok else 1


# ----------------------------------------------------------------------------- parent

def print_table(rows):
    cols = ["section", "item", "ours", "base", "ratio", "note"]
    heads = ["section", "measurement", "ours", "baseline", "ratio", "note"]
    widths = [max(len(h), *(len(str(r[c])) for r in rows)) if rows else len(h) for c, h in zip(cols, heads)]
    widths[-1] = len(heads[-1])  # the note runs to the end of the line
    line = "  ".join(h.ljust(w) for h, w in zip(heads, widths))
    print(line)
    print("-" * max(len(line), 100))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)).rstrip())


def run_parent(args):
    here = os.path.abspath(__file__)
    root = os.path.dirname(os.path.dirname(here))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    chosen = [s for s in SECTIONS if not args.only or s[0] in args.only]
    t_start = time.monotonic()
    deadline = t_start + args.budget
    total_share = sum(share for _, share, _ in chosen)
    rows, copy, planned = [], None, 0.0
    print(f"gpu_check: {len(chosen)} sections, budget {args.budget:.0f} s" + (" (dry run)" if args.dry_run else ""),
          flush=True)
    for name, share, what in chosen:
        planned += share / total_share * args.budget
        limit = min(t_start + planned, deadline) - time.monotonic()
        if limit < 5:
            rows.append(dict(section=name, item="section", ours="", base="", ratio="",
                             note="SKIPPED: the overall time budget is spent"))
            continue
        cmd = [sys.executable, here, "--section", name] + (["--dry-run"] if args.dry_run else [])
        if copy:
            cmd += ["--copy-gbps", str(copy)]
        print(f"[{name}] {what} (cap {limit:.0f} s) ...", flush=True)
        t = time.monotonic()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=root, start_new_session=True)
            status = None
            try:
                rc = proc.wait(timeout=limit)
                if rc != 0:
                    status = f"child exited with status {rc}"
            except subprocess.TimeoutExpired:
                # The whole process group: a hung kernel or compiler worker goes with it.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
                status = f"TIMEOUT: killed after {limit:.0f} s (rows above it are what finished)"
            out.seek(0)
            err.seek(0)
            got = []
            for line in out.read().splitlines():
                if line.startswith(ROW_TAG):
                    try:
                        got.append(json.loads(line[len(ROW_TAG):]))
                    except ValueError:
                        pass
            tail = err.read().strip().splitlines()[-3:]
        for r in got:
            if r["section"] == "device" and r["note"].startswith("COPY_GBPS="):
                copy = float(r["note"].split("=", 1)[1])
                r["note"] = "1 GiB buffers, median of triton.testing.do_bench"
        if status or not got:
            note = status or "no result"
            if tail and (status or not got):
                note += " | " + " / ".join(tail)[-250:]
            got.append(dict(section=name, item="section", ours="", base="", ratio="", note=note))
        for r in got:
            print(f"    {r['item']}: {r['ours']} {('| ' + r['base']) if r['base'] else ''} "
                  f"{r['ratio']} {r['note']}".rstrip(), flush=True)
        print(f"[{name}] {time.monotonic() - t:.0f} s", flush=True)
        rows += got
    failed = [r for r in rows if any(w in r["note"] for w in ("ERROR", "FAIL", "TIMEOUT", "exited"))]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        print("=== gpu_check summary ===")
        print_table(rows)
        print(f"\n{len(rows)} rows, {len(failed)} with errors/failures; total {time.monotonic() - t_start:.0f} s")
    print("\n" + buf.getvalue(), end="", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(buf.getvalue() + "\n" + "\n".join(json.dumps(r) for r in rows) + "\n")
    return 1 if failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="tiny shapes; runs on a CPU with the Triton interpreter")
    p.add_argument("--only", nargs="*", choices=[s[0] for s in SECTIONS], help="run only these sections")
    p.add_argument("--budget", type=float, default=None,
                   help=f"overall time budget in seconds (default {DEFAULT_BUDGET_S}; 3x that with --dry-run)")
    p.add_argument("--compile-only", type=int, metavar="ARCH", default=None,
                   help="only compile the kernels for sm_ARCH (e.g. 90) with Triton's bundled compiler; no GPU needed")
    p.add_argument("--out", help="also write the summary table and its rows as JSON lines to this file")
    p.add_argument("--section", help=argparse.SUPPRESS)  # internal: run one section in this process
    p.add_argument("--copy-gbps", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.budget is None:
        args.budget = DEFAULT_BUDGET_S * (3 if args.dry_run else 1)
    if args.section:
        return run_child(args)
    if args.compile_only is not None:
        return compile_only(args.compile_only)
    if not args.dry_run:
        try:
            probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                                   capture_output=True, text=True, timeout=90).stdout.strip()
        except subprocess.TimeoutExpired:
            probe = "timed out"
        if probe != "True":
            print("gpu_check: no CUDA device here (torch.cuda.is_available() is not True); "
                  "use --dry-run to exercise the script on a CPU.")
            return 2
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())

"""Training throughput on this CPU next to what its matmuls can do, in one run.

Measured side by side, interleaved rep by rep (so a shared machine slows every row alike):

* **matmul**: this machine's float32 (and bfloat16) matmul FLOP/s at the training step's own
  shapes: [batch tokens, dim] times each linear weight of the model (wqkv, wo, w13, w2, output),
  weighted by their FLOPs, on every torch thread.
* **train step**: ``neurodebug.training.train``'s step (collate, forward, loss, backward, clipping,
  AdamW) on real batches (datagen programs of style 1, traced, encoded with the bundled tokenizer,
  cut into batches by length as the trainer does), for each --threads and --precision.

Useful FLOPs of a step: 6 x (parameters less the input embedding, a lookup) x real tokens
(padding excluded), plus attention: 12 x dim x the (query, key) pairs each layer attends to
(causal: n(n+1)/2 for a sequence of n tokens; sliding layers at most the window per query),
forward 4 x dim per pair (QK^T and AV) and backward twice that. Reported per row: median step
time, target tokens/s (the tokens the loss covers, what the trainer logs), useful GFLOP/s, and
the median over steps of that over the float32 matmul rate measured right before the step (on a
shared machine the load moves both alike), by wall time and by CPU time (process time: what the
process ran, not what it waited for a core). ``--profile`` adds torch.profiler's top operators
of one step.

    python benchmarks/train_speed.py [--size large] [--batch-tokens 8192] [--reps 5]
        [--threads 1 2] [--precision float32 bfloat16] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def real_batches(size: str, batch_tokens: int, max_len: int, programs: int, n: int):
    """``n`` batches of real training sequences, cut by length as the trainer cuts a block."""
    import random

    from neurodebug.backends import BUNDLED_DIR
    from neurodebug.training import train

    stream = train.DataStream(0, programs, 0, str(BUNDLED_DIR / "tokenizer.json"), max_len, "trace", style=1)
    examples = [e for i in range(len(stream.tasks)) for e in stream.chunk(i)]
    batches = train.length_batches(examples, batch_tokens, random.Random(0))
    return batches[:n]


def matmul_shapes(config) -> list[tuple[int, int]]:
    """(in, out) of every linear a token goes through, once per layer, and the output head."""
    c = config
    qkv = (c.n_heads + 2 * c.n_kv_heads) * c.head_dim
    per_layer = [(c.dim, qkv), (c.n_heads * c.head_dim, c.dim), (c.dim, 2 * c.intermediate_size), (c.intermediate_size, c.dim)]
    return per_layer * c.n_layers + [(c.dim, c.vocab_size)]


def matmul_rate(shapes, rows: int, dtype, reps: int = 3) -> tuple[float, float]:
    """FLOP per wall second and per CPU second of [rows, in] @ [in, out] over the shapes, at their
    FLOP-weighted mix (each distinct shape timed, then summed over the shapes)."""
    import torch

    distinct = sorted(set(shapes))
    mats = {s: (torch.randn(rows, s[0], dtype=dtype), torch.randn(s[0], s[1], dtype=dtype)) for s in distinct}
    for a, b in mats.values():
        a @ b
    wall, cpu = {}, {}
    for s, (a, b) in mats.items():
        t, c = time.perf_counter(), time.process_time()
        for _ in range(reps):
            a @ b
        wall[s], cpu[s] = (time.perf_counter() - t) / reps, (time.process_time() - c) / reps
    flops = sum(2 * rows * i * o for i, o in shapes)
    return flops / sum(wall[s] for s in shapes), flops / sum(cpu[s] for s in shapes)


def attended_pairs(n: int, window: int | None) -> int:
    """(query, key) pairs of causal attention over n tokens, each query seeing at most window keys."""
    if window is None or window >= n:
        return n * (n + 1) // 2
    return window * (window + 1) // 2 + (n - window) * window


def useful_flops(model, batch) -> float:
    """6 N per real token (N without the input embedding) plus attention's 12 dim per pair and layer."""
    c = model.config
    n_matmul = sum(p.numel() for p in model.parameters()) - model.tok_embeddings.weight.numel()
    tokens = sum(len(e.ids) for e in batch)
    pairs = sum(attended_pairs(len(e.ids), c.window(i)) for e in batch for i in range(c.n_layers))
    return 6 * n_matmul * tokens + 12 * c.n_heads * c.head_dim * pairs


class StepRow:
    """One configuration (threads, precision): its model, optimizer and timed steps."""

    def __init__(self, size: str, threads: int, precision: str, vocab: int):
        import torch

        from neurodebug.model.model import Transformer
        from neurodebug.training import train

        self.threads, self.precision = threads, precision
        torch.manual_seed(0)
        self.model = Transformer(train.make_config(size, vocab, 1, [2], 1536))
        train.init_weights(self.model, self.model.config.n_layers)
        self.opt = train.make_optimizer(self.model, 1e-4, 0.1, torch.device("cpu"))
        self.autocast = train.autocast_for(precision, torch.device("cpu"))
        # per timed step: (wall s, CPU s, float32 matmul FLOP per wall s and per CPU s just before)
        self.timed: list[tuple[float, float, float, float]] = []

    def step(self, batch, pad_id: int) -> float:
        import torch

        from neurodebug.training import train

        torch.set_num_threads(self.threads)
        t, c = time.perf_counter(), time.process_time()
        train.optimizer_step(self.model, self.model, self.opt, train.collate(batch, pad_id, "cpu"), self.autocast)
        return time.perf_counter() - t, time.process_time() - c


def profile_step(row: StepRow, batch, pad_id: int) -> str:
    """torch.profiler's operators of one step, by self CPU time."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from neurodebug.training import train

    torch.set_num_threads(row.threads)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train.optimizer_step(row.model, row.model, row.opt, train.collate(batch, pad_id, "cpu"), row.autocast)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="large", help="model size of neurodebug/training/train.py (large: the bundled model's)")
    p.add_argument("--batch-tokens", type=int, default=8192)
    p.add_argument("--max-len", type=int, default=1536)
    p.add_argument("--programs", type=int, default=100, help="datagen programs the batches come from")
    p.add_argument("--reps", type=int, default=5, help="timed steps per row (after one untimed)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--precision", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--profile", action="store_true", help="print the top operators of one step of each row")
    args = p.parse_args(argv)

    import os

    import torch

    from neurodebug.backends import BUNDLED_DIR
    from neurodebug.model.tokenizer import load_tokenizer

    tok = load_tokenizer(BUNDLED_DIR / "tokenizer.json")
    pad_id = tok.special_id("<|pad|>")
    batches = real_batches(args.size, args.batch_tokens, args.max_len, args.programs, args.reps + 1)
    rows = [StepRow(args.size, t, prec, tok.vocab_size) for t in args.threads for prec in args.precision]
    config = rows[0].model.config
    all_threads = max(args.threads + [torch.get_num_threads()])
    torch.set_num_threads(all_threads)
    shapes = matmul_shapes(config)
    mean_rows = int(statistics.mean(sum(len(e.ids) for e in b) for b in batches))
    rates = {"float32": [], "bfloat16": []}
    for i, batch in enumerate(batches):  # interleaved: each row's step next to a matmul measure
        for row in rows:
            torch.set_num_threads(all_threads)
            for name in rates:
                rates[name].append(matmul_rate(shapes, mean_rows, getattr(torch, name)))
            wall, cpu = row.step(batch, pad_id)
            if i:  # the first step warms up
                row.timed.append((wall, cpu, *rates["float32"][-1]))
    report(args, config, rows, batches[1:], rates, all_threads)
    if args.profile:
        for row in rows:
            print(f"\n### profile: {row.threads} thread(s), {row.precision}\n")
            print(profile_step(row, batches[0], pad_id))
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


def report(args, config, rows, batches, rates, all_threads: int) -> None:
    """The table: matmul rates first, then each row's median step."""
    import torch

    from neurodebug.training.train import padded_length

    model = rows[0].model
    flops = statistics.mean(useful_flops(model, b) for b in batches)
    target = statistics.mean(sum(len(e.ids) - 1 - e.start for e in b) for b in batches)
    real = statistics.mean(sum(len(e.ids) for e in b) for b in batches)
    padded = statistics.mean(len(b) * padded_length(max(len(e.ids) for e in b)) for b in batches)
    n = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, {all_threads} threads for the matmuls; model {args.size} ({n / 1e6:.1f}M parameters, "
          f"dim {config.dim}, {config.n_layers} layers); {len(batches)} timed batches of <= {args.batch_tokens} padded "
          f"tokens: mean {real:.0f} real tokens ({1 - real / padded:.1%} of the padded batch is padding), "
          f"{target:.0f} target tokens, {flops / 1e9:.1f} GFLOP useful")
    print("\n| matmul at the model's shapes | GFLOP/s (median) | GFLOP per CPU s |\n| --- | --- | --- |")
    for name, r in rates.items():
        print(f"| {name}, {all_threads} threads | {statistics.median(w for w, _ in r) / 1e9:.1f} "
              f"| {statistics.median(c for _, c in r) / 1e9:.1f} |")
    print("\n| train step | threads | median s | target tok/s | useful GFLOP/s | of float32 matmul | same, per CPU s |"
          "\n| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        s = statistics.median(w for w, *_ in row.timed)
        of_wall = statistics.median(flops / w / mw for w, _, mw, _ in row.timed)
        of_cpu = statistics.median(flops / c / mc for _, c, _, mc in row.timed)
        print(f"| {row.precision} | {row.threads} | {s:.2f} | {target / s:.0f} | {flops / s / 1e9:.1f} | {of_wall:.0%} "
              f"| {of_cpu:.0%} |")

if __name__ == "__main__":
    sys.exit(main())

"""Debugger costs, measured side by side in one run (ratios, not absolute speed).

1. Stepping: a Session on the local backend keeps one KV cache and computes only each new
   frame's tokens. The baseline is what a client without a cache does (Meta's cwmdbg against a
   server that keeps nothing): re-encode the prompt and every earlier frame at every step, then
   decode the new frame. Reported: tokens computed and wall time per step, and their ratios.
2. Scoring a long real trace: teacher forcing runs one forward pass over prompt + all real
   frames (``Predictor.greedy_argmax``); the alternative is to generate the trace frame by frame
   given the real history (greedy decoding, one token at a time, with a KV cache walking
   forward), and the naive one re-encodes the history for every frame.

The model writes the real trace's tokens (the real model computes each of them, steered along
the trace as the tests' ScriptedPredictor does), so both sides do the same frames whatever the
checkpoint's weights; speed is the runtime's. Without --model a random checkpoint of the given
size is made in a temporary directory (the bundled model is used when it is installed).

    python benchmarks/session.py [--model PATH] [--hidden 256 --layers 4] [--items 24]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROGRAM = """\
def total(xs):  # << START_OF_TRACE
    s = 0
    for i, x in enumerate(xs):
        if x % 3 == 0:
            s += x * i
        else:
            s -= 1
    return s
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="checkpoint directory (default: bundled model, else a random one)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--items", type=int, default=24, help="list length of the traced call (trace length)")
    ap.add_argument("--steps", type=int, default=8, help="steps timed in part 1, at each end of the trace")
    args = ap.parse_args()

    import torch

    from neurodebug.backends import bundled_model
    from neurodebug.backends.local import LocalPredictor
    from neurodebug.codec import Codec
    from neurodebug.compare import teacher_forced
    from neurodebug.real.tracer import trace_source
    from neurodebug.session import Session
    from tests.neurodebug.scripted import ScriptedPredictor

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    path = args.model or (bundled_model() and str(bundled_model()))
    tmp = None
    if path is None:
        from tests.checkpoints import make_checkpoint

        tmp = tempfile.TemporaryDirectory()
        path = str(make_checkpoint(Path(tmp.name) / "ckpt", hidden=args.hidden, layers=args.layers,
                                   heads=max(args.hidden // 64, 2), kv_heads=max(args.hidden // 128, 1),
                                   intermediate=args.hidden * 3, window=64))
    local = LocalPredictor(path)
    codec = Codec(local.tokenizer)
    call = repr(list(range(args.items)))
    real = trace_source(PROGRAM, "total", call)
    ids, spans = codec.encode_trace(real)
    teacher = ScriptedPredictor(local, [ids])
    cfg = local.model.config
    print(f"model: {path} ({cfg.n_layers} layers, dim {cfg.dim}, vocab {cfg.vocab_size}); "
          f"torch threads {torch.get_num_threads()}; device cpu")
    print(f"trace: total({call[:30]}...) -> {len(real.frames)} frames, {len(ids)} tokens "
          f"(prompt {spans[0][0]})")

    # -- 1. stepping with KV reuse vs re-encoding -------------------------------------------------
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    n = args.steps
    print(f"\n1. one debugger step: {n} steps timed near the start and near the end of the trace")
    s = Session(PROGRAM, "total", call, predictor=teacher).start()
    for where, first in (("start", 1), ("end", len(real.frames) - n)):
        s.cont(max_frames=first - s.index)  # untimed: get there
        t_reuse, c_reuse = [], []
        for _ in range(n):
            c0, t0 = s.tokens_computed, time.perf_counter()
            s.step()
            t_reuse.append(time.perf_counter() - t0)
            c_reuse.append(s.tokens_computed - c0)
        t_re, c_re = [], []
        for i in range(first + 1, first + 1 + n):
            a, b = spans[i]
            t0 = time.perf_counter()
            st = teacher.open(ids[:a])  # the prompt and every earlier frame, again
            st.generate(b - a, stop_ids=codec.stop_ids)
            t_re.append(time.perf_counter() - t0)
            c_re.append(st.tokens_computed)
        print(f"   near the {where} (history {spans[first][1]}..{spans[first + n][0]} tokens):")
        print(f"     KV reuse (Session):     {mean(c_reuse):8.1f} tokens computed/step  {1000 * mean(t_reuse):8.1f} ms/step")
        print(f"     re-encode every step:   {mean(c_re):8.1f} tokens computed/step  {1000 * mean(t_re):8.1f} ms/step")
        print(f"     ratio re-encode / reuse: tokens x{mean(c_re) / mean(c_reuse):.1f}, "
              f"wall time x{mean(t_re) / mean(t_reuse):.2f}")

    # -- 2. scoring a long trace --------------------------------------------------------------------
    t0 = time.perf_counter()
    tf = teacher_forced(real, teacher, codec, max_alternatives=0)
    t_tf = time.perf_counter() - t0
    assert all(tf.ok), "the steered model reproduces the real trace"
    # frame by frame, greedy, KV cache walking forward along the real history
    t0 = time.perf_counter()
    st = teacher.open(ids[: spans[0][0]])
    for k, (a, b) in enumerate(spans):
        st.truncate(a)
        st.extend(ids[len(st):a])
        st.generate(b - a, stop_ids=codec.stop_ids + [codec.end_of_text_id])
    t_fbf = time.perf_counter() - t0
    c_fbf = st.tokens_computed
    # naive: a fresh state per frame (re-encode the history every time), on the first 12 frames, extrapolated
    k = min(12, len(spans))
    t0, c_naive = time.perf_counter(), 0
    for a, b in spans[:k]:
        st2 = teacher.open(ids[:a])
        st2.generate(b - a, stop_ids=codec.stop_ids)
        c_naive += st2.tokens_computed
    t_naive_part = time.perf_counter() - t0
    full_naive_tokens = sum(a + (b - a) for a, b in spans)
    print(f"\n2. scoring a {len(real.frames)}-frame trace ({len(ids)} tokens)")
    print(f"   teacher-forced (one forward pass):      {len(ids):7d} tokens  {t_tf:7.2f} s")
    print(f"   frame by frame, KV cache walking:       {c_fbf:7d} tokens  {t_fbf:7.2f} s   (x{t_fbf / t_tf:.1f} wall)")
    print(f"   frame by frame, re-encoding each frame: {full_naive_tokens:7d} tokens  "
          f"(measured {t_naive_part:.2f} s on the first {k} frames; x{full_naive_tokens / len(ids):.1f} tokens)")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

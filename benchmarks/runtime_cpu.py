"""Our runtime against transformers' CwmForCausalLM.generate on one CPU checkpoint, side by side.

    python benchmarks/runtime_cpu.py [--threads 1] [--prompt 512] [--new 128] [--repeats 3]

Builds a random ~39M-parameter CWM checkpoint (CWM's 128,256-token vocabulary, tied embeddings,
8 layers of hidden 256, global every 4th layer, window 256: see ARCH), then measures, for both implementations in
the same process with the same thread count:
  prefill tokens/s: a --prompt-token prompt and one generated token (generate(max_new_tokens=1));
  decode tokens/s:  --new greedy tokens after a 32-token prompt, minus the prefill run's time.
Runs of both are interleaved and each figure is the best of --repeats, by wall clock and by the
process's CPU time (on a shared CPU, other load stretches wall time but not CPU time). Greedy outputs of both are checked to be identical.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ARCH = dict(hidden=256, layers=8, heads=4, kv_heads=2, head_dim=64, intermediate=768, window=256, tie=True,
            layer_types=["full_attention", "sliding_attention", "sliding_attention", "sliding_attention"] * 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both (default 1)")
    ap.add_argument("--prompt", type=int, default=512, help="prefill prompt length")
    ap.add_argument("--new", type=int, default=128, help="greedy tokens to decode")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--int8", action="store_true", help="also time ours with int8 weights (not the same model:"
                    " weights rounded; reported apart from the equal-precision ratio)")
    ap.add_argument("--arch", default="", help="override ARCH, e.g. hidden=1024,layers=16,intermediate=4096,head_dim=128,heads=8")
    ap.add_argument("--device", default="cpu", help="cpu (the point of this benchmark) or cuda, for comparison")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="weights and compute, both")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from neurodebug.model import load_model

    from tests.checkpoints import load_reference, make_checkpoint

    for item in filter(None, args.arch.split(",")):
        key, value = item.split("=")
        ARCH[key] = int(value)
    if "layers" in ARCH and len(ARCH["layer_types"]) != ARCH["layers"]:
        ARCH["layer_types"] = (["full_attention"] + ["sliding_attention"] * 3) * (ARCH["layers"] // 4)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_checkpoint(Path(tmp) / "bench", tokenizer=False, vocab=128256, **ARCH)
        ours = load_model(path, device=args.device, dtype=args.dtype, attention="auto")
        ours8 = load_model(path, device=args.device, dtype=args.dtype, attention="auto", quantize="int8")
        hf = load_reference(path).to(device=args.device, dtype=getattr(torch, args.dtype))
    n_params = ours.config.param_count()
    g = torch.Generator().manual_seed(0)
    long_prompt = torch.randint(0, 128000, (args.prompt,), generator=g).tolist()
    short = long_prompt[:32]

    def hf_generate(prompt, n):
        with torch.inference_mode():
            out = hf.generate(torch.tensor([prompt], device=args.device), max_new_tokens=n, do_sample=False,
                              eos_token_id=None, pad_token_id=0)
        return out[0, len(prompt):].tolist()

    def ours_generate(prompt, n):
        return ours.generate(prompt, n)

    impls = {"ours": ours_generate, "transformers": hf_generate}
    if args.int8:
        impls["ours int8"] = lambda prompt, n: ours8.generate(prompt, n)
    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    times = {(c, name): {"prefill": [], "short": [], "decode": []} for c in clocks for name in impls}
    outs = {}
    for gen in impls.values():
        gen(short, 4)  # warm up
    # Interleaved, so that load from other processes on a shared CPU hits both alike.
    for _ in range(args.repeats):
        for name, gen in impls.items():
            for key, prompt, n in (("prefill", long_prompt, 1), ("short", short, 1), ("decode", short, args.new)):
                t0 = {c: clock() for c, clock in clocks.items()}
                outs[name] = gen(prompt, n)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                for c, clock in clocks.items():
                    times[c, name][key].append(clock() - t0[c])
    rows = {k: dict(prefill=args.prompt / min(t["prefill"]),
                    decode=(args.new - 1) / (min(t["decode"]) - min(t["short"])))
            for k, t in times.items()}

    same = outs["ours"] == outs["transformers"]
    print(f"checkpoint: random CWM, {n_params / 1e6:.1f}M parameters (hidden {ARCH['hidden']}, {ARCH['layers']} layers,"
          f" vocab 128256, window {ARCH['window']}), {args.dtype}, {args.device}, torch threads {args.threads}")
    for c, what in (("wall", "wall clock"), ("cpu", "CPU time of this process (robust to other load)")):
        print(f"\n{what}:")
        print(f"{'':14}{'prefill tok/s':>15}{'decode tok/s':>15}")
        for name in impls:
            print(f"{name:14}{rows[c, name]['prefill']:15.1f}{rows[c, name]['decode']:15.1f}")
        for name in impls:
            if name != "transformers":
                print(f"{name + ' / tf':14}{rows[c, name]['prefill'] / rows[c, 'transformers']['prefill']:14.2f}x"
                      f"{rows[c, name]['decode'] / rows[c, 'transformers']['decode']:14.2f}x")
    print(f"prefill: {args.prompt}-token prompt + 1 token; decode: {args.new} greedy tokens after 32;"
          f" best of {args.repeats}; greedy outputs of ours and transformers identical: {same}")


if __name__ == "__main__":
    main()

"""Which definition of a frame's confidence best separates right frames from wrong ones.

    python benchmarks/confidence_definitions.py examples/suites/synthetic_heldout.jsonl --limit 150

Teacher-forced, as ``neurodebug eval`` scores (every frame generated greedily from the real
history, under the session's constraints): for each scored frame its tokens' log-probabilities
(``neurodebug.confidence``) at temperature 1, and, to try temperature scaling, at the
temperatures ``--temperatures`` (each token's logits divided by T before the constrained
softmax). Prints the AUROC of each definition at each temperature for "this frame's state is
wrong". Fit on a training-side suite only (synthetic_heldout); the evaluation suites are
measured with the chosen definition by ``neurodebug eval`` (docs/confidence.md).
"""

from __future__ import annotations

import argparse
import sys
import time


def record_side_logprobs(temperatures: list[float]) -> list[list[float]]:
    """Make the local backend also record each token's log-probability at ``temperatures``,
    in generation order (one list per temperature)."""
    from neurodebug.backends import local
    from neurodebug.model.generate import choice_logprob

    side: list[list[float]] = [[] for _ in temperatures]
    plain = local._recorder

    def recorder(logprobs, temperature):
        base = plain(logprobs, temperature)
        if base is None:
            return None

        def on_choice(logits, allowed, token):
            base(logits, allowed, token)
            for out, t in zip(side, temperatures):
                out.append(0.0 if logits is None else choice_logprob(logits, allowed, token, t))

        return on_choice

    local._recorder = recorder
    return side


def teacher_forced_frames(rec, predictor, codec):
    """(state right, token log-probabilities) of each scored teacher-forced frame of a record."""
    from confidence_calibration import scored_frames  # this folder's sibling

    return [(sc.state_match, sc.logprobs) for sc in scored_frames(rec, predictor, codec) if sc.logprobs]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite")
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--temperatures", type=float, nargs="*", default=[0.5, 2.0])
    args = ap.parse_args(argv)

    from neurodebug.codec import Codec
    from neurodebug.confidence import DEFINITIONS, auroc
    from neurodebug.evaluate import load_suite
    from neurodebug.options import SessionOptions

    side = record_side_logprobs(args.temperatures)
    predictor = SessionOptions().make_predictor()
    codec = Codec(predictor.tokenizer)
    frames = []  # (state right, {temperature: logprobs})
    t0 = time.perf_counter()
    for rec in load_suite(args.suite, args.limit):
        for ok, lps in teacher_forced_frames(rec, predictor, codec):
            frames.append((ok, {1.0: lps}))
    at = 0  # the side lists hold every generated token in order: cut them frame by frame
    for _ok, by_t in frames:
        n = len(by_t[1.0])
        for t, out in zip(args.temperatures, side):
            by_t[t] = out[at : at + n]
        at += n
    wrong = [not ok for ok, _ in frames]
    print(f"{args.suite}: {len(frames)} teacher-forced frames, {sum(wrong)} with a wrong state "
          f"({time.perf_counter() - t0:.0f} s)")
    print("| definition | " + " | ".join(f"T = {t:g}" for t in [1.0, *args.temperatures]) + " |")
    print("|---|" + "---|" * (1 + len(args.temperatures)))
    for name, fn in DEFINITIONS.items():
        cells = []
        for t in [1.0, *args.temperatures]:
            a = auroc([1.0 - fn(by_t[t]) for _, by_t in frames], wrong)
            cells.append("-" if a is None else f"{a:.4f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fit the map from a frame's (and a value's) token probabilities to how often it is right.

    python benchmarks/confidence_calibration.py collect examples/suites/calibration.jsonl --out cal.jsonl
    python benchmarks/confidence_calibration.py fit cal.jsonl --write neurodebug/bundled/calibration.json
    python benchmarks/confidence_calibration.py collect examples/suites/calibration_packages.jsonl --out pkgs.jsonl
    python benchmarks/confidence_calibration.py check pkgs.jsonl

(the bundled model's map; ``fit cal.jsonl syn.jsonl``, with ``collect`` of
examples/suites/calibration_synthetic.jsonl as syn.jsonl, is the map on real and generated code
that docs/confidence.md measures beside it.)

``collect`` scores a suite teacher-forced, as ``neurodebug eval`` does (every frame generated
greedily from the real history under the session's constraints, on the raw model: no map
applied), and writes one line per scored frame: whether its state is right, its tokens'
log-probabilities cut into the frame's parts (``Codec.frame_parts``), and each value written in
full with its log-probability and whether it is the real value. ``fit`` prints the AUROC of the
raw definitions (``confidence.DEFINITIONS`` over all of a frame's tokens or its state's) for a
wrong state; fits a logistic map for frames over ``confidence.frame_features`` (and, to compare,
a Platt map on the raw product alone) and a Platt map for values; reports each with 5-fold
cross-validation by record and with each package left out in turn (the suites are packages the
map never saw); and writes the maps a model folder carries (``calibration.json``,
read by ``confidence.Calibration``). ``check`` measures a model's map on frames it was not fitted on:
those of the calibration packages (``examples/suites/build.py calibration-packages``), nine
packages no model here read.

Fit on the calibration split only (``examples/suites/build.py calibration``: real functions of the
training packages that no training trace comes from); the evaluation suites are measured with the
map by ``neurodebug eval`` (docs/confidence.md).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time


def capture_generated_ids():
    """Make teacher forcing keep each generated frame's ids: {id(logprobs list): ids}."""
    from neurodebug import compare as C

    seen: dict[int, list[int]] = {}
    plain = C._Alternatives.frame

    def frame(self, parser, start, logprobs=None, **kw):
        alt, ids = plain(self, parser, start, logprobs, **kw)
        if logprobs is not None:
            seen[id(logprobs)] = list(ids)
        return alt, ids

    C._Alternatives.frame = frame
    return seen


#: Wrong frames generated per record by default (None: every one, as ``neurodebug eval`` does).
#: The shipped map was fitted on at most 16 per record: fitted on every frame it was worse on the
#: calibration packages (ECE 0.061 against 0.049; docs/confidence.md).
MAX_ALTERNATIVES = 16


def scored_frames(rec, predictor, codec, max_alternatives: int | None = MAX_ALTERNATIVES) -> list:
    """A record's teacher-forced scored frames (``compare.FrameScore``), as ``neurodebug eval``
    scores them, each generated for its confidence, but at most ``max_alternatives`` wrong ones;
    [] when its real run did not end normally."""
    from neurodebug import compare as C
    from neurodebug.evaluate import MAX_FRAME_TOKENS
    from neurodebug.options import SessionOptions
    from neurodebug.session import Session

    s = Session(rec["code"], rec.get("entry") or "f", rec["input"], SessionOptions(run_real=True),
                predictor=predictor).start()
    if s.real is None or s.real.end.reason not in ("returned", "raised"):
        return []
    tf = C.teacher_forced(s.real, predictor, codec, max_alternatives=max_alternatives, max_frame_tokens=MAX_FRAME_TOKENS,
                          constraint=s.frame_constraint, parser=s.new_parser(), confidence=True)
    return tf.frames[C.SCORE_FROM:]


def frame_rows(rec, predictor, codec, seen, max_alternatives: int | None = MAX_ALTERNATIVES) -> list[dict]:
    """The scored teacher-forced frames of one record, with their parts' log-probabilities."""
    from neurodebug import compare as C
    from neurodebug.confidence import values_logprob

    rows = []
    for sc in scored_frames(rec, predictor, codec, max_alternatives):
        ids = seen.get(id(sc.logprobs)) if sc.logprobs else None
        if ids is None or len(ids) != len(sc.logprobs):
            continue
        parts = codec.frame_parts(ids, (0, len(ids)))
        row = {"record": rec.get("id"), "step": sc.step, "state_match": sc.state_match,
               "action_match": sc.action_match,
               "parts": {name: sc.logprobs[a:b] for name, (a, b) in parts.items()}, "values": []}
        a, b = parts.get("locals", (0, 0))
        written = sc.alternative if sc.alternative is not None else sc.real
        if b > a:
            probs = values_logprob(codec.tokenizer.decode, ids[a:b], sc.logprobs[a:b])
            for name, lp in probs.items():
                right = C.same_value(written.locals.get(name), sc.real.locals.get(name)) if sc.alternative else True
                row["values"].append({"name": name, "logprob": lp, "right": bool(right)})
        rows.append(row)
    return rows


def collect(args) -> int:
    from neurodebug.codec import Codec
    from neurodebug.confidence import RAW
    from neurodebug.evaluate import load_suite
    from neurodebug.options import SessionOptions

    seen = capture_generated_ids()
    predictor = SessionOptions(model=args.model, device=args.device).make_predictor()
    predictor.calibration = RAW  # the raw numbers are what a map is fitted on
    codec = Codec(predictor.tokenizer)
    t0, n = time.perf_counter(), 0
    with open(args.out, "w") as out:
        for rec in load_suite(args.suite, args.limit):
            for row in frame_rows(rec, predictor, codec, seen, None if args.every_frame else MAX_ALTERNATIVES):
                out.write(json.dumps(row) + "\n")
                n += 1
            seen.clear()
    print(f"{args.suite}: {n} teacher-forced frames -> {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0


# -- fitting -----------------------------------------------------------------------------------------

#: The frame map's features (``confidence.frame_features``), and the one-feature Platt map it is
#: compared with.
FRAME_FEATURES = ("logit_product", "min", "state_mean", "state_min", "returns", "log_tokens", "log_state_tokens",
                  "values_min_logit", "first")
PLATT = ("logit_product",)
#: The L2 weight of the frame map: chosen by leaving each package out in turn (the suites are
#: packages the map never saw), over 0.01 to 10 (docs/confidence.md).
FRAME_L2 = 0.3
VALUE_L2 = 1e-2


def raw_logprob(row: dict, how: str, state_only: bool) -> float:
    from neurodebug.confidence import DEFINITIONS, STATE_PARTS

    names = STATE_PARTS if state_only else ("event", "locals", "source", "value", "end")
    lps = [lp for part in names for lp in row["parts"].get(part, [])]
    return DEFINITIONS[how](lps) if lps else 0.0


def with_features(rows: list[dict]) -> list[dict]:
    """Each row's frame features (``first``: the frame right after the call frame, as
    ``compare.teacher_forced`` marks it)."""
    from neurodebug.compare import SCORE_FROM
    from neurodebug.confidence import frame_features

    for r in rows:
        r["x"] = frame_features(r["parts"], [v["logprob"] for v in r["values"]], r["step"] == SCORE_FROM)
    return rows


def package(record: str) -> str:
    """The package a calibration record comes from (its id starts "package:"); the generated
    programs (calibration_synthetic.jsonl) are one."""
    return record.split(":", 1)[0] if ":" in record else "generated"


def folds(groups: list, by: str, k: int = 5) -> list[set]:
    """The held-out sets of a cross-validation: k folds of records by their hash, or each
    package alone."""
    import zlib

    if by == "package":
        return [{g for g in groups if package(g) == p} for p in sorted({package(g) for g in groups})]
    return [{g for g in groups if zlib.crc32(str(g).encode()) % k == i} for i in range(k)]


#: Fewer examples of either kind (right, wrong) than this fit no map: the raw number stays.
MIN_EACH = 5


def fitted(features, xs, ys, l2: float):
    """The map fitted on (xs, ys), or None where too few of them are right or wrong to fit one."""
    from neurodebug.confidence import Logistic

    if min(sum(ys), len(ys) - sum(ys)) < MIN_EACH:
        return None
    return Logistic.fit(features, xs, ys, l2=l2)


def cross_validated(features, xs, ys, groups, l2: float, by: str = "record") -> list[float]:
    """Each point's calibrated probability from a map fitted on the other folds (the raw
    probability where a fold has too few to fit one)."""
    out = [0.0] * len(xs)
    for held in folds(sorted(set(groups)), by):
        fold = fitted(features, [x for x, g in zip(xs, groups) if g not in held],
                      [y for y, g in zip(ys, groups) if g not in held], l2)
        for i, g in enumerate(groups):
            if g in held:
                out[i] = fold(xs[i]) if fold else 1.0 / (1.0 + math.exp(-xs[i][features[0]]))
    return out


def report(name: str, probs, right) -> str:
    from neurodebug.confidence import SURE, auroc, expected_calibration_error

    a = auroc([1.0 - p for p in probs], [not r for r in right])
    e = expected_calibration_error(probs, right)
    sure = [r for p, r in zip(probs, right) if p >= SURE]
    share = f"{sum(sure) / len(sure):.3f} of {len(sure)}" if sure else "-"
    num = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731 - no AUROC without both kinds
    return f"| {name} | {len(probs)} | {num(a)} | {num(e)} | {share} |"


def as_carried(rows, frames_mapped, values_mapped) -> list[float]:
    """The confidence frames carry: the frame map's, never above the frame's least sure value."""
    at, out = 0, []
    for r, p in zip(rows, frames_mapped):
        out.append(min([p] + values_mapped[at:at + len(r["values"])]))
        at += len(r["values"])
    return out


def fit(args) -> int:
    from neurodebug.confidence import DEFINITIONS, Calibration, auroc, value_features

    rows = [dict(json.loads(line), source=path) for path in args.frames for line in open(path) if line.strip()]
    rows = with_features(rows)
    right = [bool(r["state_match"]) for r in rows]
    groups = [r["record"] for r in rows]
    print(f"{' + '.join(args.frames)}: {len(rows)} frames of {len(set(groups))} records, "
          f"{right.count(False)} with a wrong state")
    print("| raw definition | tokens | AUROC (state wrong) |")
    print("|---|---|---|")
    for how in DEFINITIONS:
        for state_only in (False, True):
            a = auroc([-raw_logprob(r, how, state_only) for r in rows], [not x for x in right])
            print(f"| {how} | {'state' if state_only else 'frame'} | {a:.4f} |")
    xs = [r["x"] for r in rows]
    vals = [v for r in rows for v in r["values"]]
    vx, vy = [value_features(v["logprob"]) for v in vals], [v["right"] for v in vals]
    vg = [r["record"] for r in rows for _ in r["values"]]
    without_first = FRAME_FEATURES[:-1]
    for by in ("record", "package"):
        print(f"\nCross-validation by {by} ({'5 folds of records' if by == 'record' else 'each package left out'};"
              " each fold's frames mapped by a map fitted on the others):")
        print("| what | count | AUROC (wrong) | ECE | right when >= 0.9 |")
        print("|---|---|---|---|---|")
        print(report("frames, raw product", [math.exp(raw_logprob(r, "product", False)) for r in rows], right))
        print(report("frames, Platt map", cross_validated(PLATT, xs, right, groups, VALUE_L2, by), right))
        values_mapped = cross_validated(("logit",), vx, vy, vg, VALUE_L2, by)
        print(report("values, raw product", [math.exp(v["logprob"]) for v in vals], vy))
        print(report("values, Platt map", values_mapped, vy))
        for name, features, l2 in (("without first, L2 0.01", without_first, 1e-2),
                                   ("without first", without_first, FRAME_L2),
                                   ("as carried", FRAME_FEATURES, FRAME_L2)):
            mapped = cross_validated(features, xs, right, groups, l2, by)
            carried = as_carried(rows, mapped, values_mapped)
            print(report(f"frames, {name} (L2 {l2:g})" if "L2" not in name else f"frames, {name}", carried, right))
        if len(args.frames) > 1:  # the carried numbers, file by file
            for path in args.frames:
                mine = [i for i, r in enumerate(rows) if r["source"] == path]
                print(report(f"{path}: as carried", [carried[i] for i in mine], [right[i] for i in mine]))
    cal = Calibration(fitted(FRAME_FEATURES, xs, right, FRAME_L2), fitted(("logit",), vx, vy, VALUE_L2),
                      fitted_on=f"{args.fitted_on or ' + '.join(args.frames)}: {len(rows)} frames, {len(vals)} values")
    print(f"\nthe maps on all of them: frames {cal.frame}, values {cal.value}")
    if args.write:
        cal.save(args.write)
        print(f"-> {args.write}")
    return 0


def carried_confidence(cal, row: dict) -> float:
    """A collected frame's confidence under a model's maps, as the frame carries it (no map: the
    raw product)."""
    if cal.frame is None:
        return math.exp(raw_logprob(row, "product", False))
    return min([cal.frame(row["x"])] + [cal.value_confidence(v["logprob"]) for v in row["values"]])


def check(args) -> int:
    """The map a model folder carries, on collected frames it was not fitted on: overall, per
    package, and per confidence bin."""
    from neurodebug.backends import resolve_model
    from neurodebug.confidence import Calibration, reliability

    cal = Calibration.load(resolve_model(args.model))
    rows = with_features([json.loads(line) for path in args.frames for line in open(path) if line.strip()])
    probs, right = [carried_confidence(cal, r) for r in rows], [bool(r["state_match"]) for r in rows]
    print(f"the map fitted on {cal.fitted_on or 'nothing (raw product)'}, on {' + '.join(args.frames)}:")
    print("| what | count | AUROC (wrong) | ECE | right when >= 0.9 |")
    print("|---|---|---|---|---|")
    print(report("all frames", probs, right))
    for p in sorted({package(r["record"]) for r in rows}):
        mine = [i for i, r in enumerate(rows) if package(r["record"]) == p]
        print(report(p, [probs[i] for i in mine], [right[i] for i in mine]))
    print("\nper bin (frames / mean confidence / share right):")
    print("  ".join(f"{b['frames']}/{b['confidence']:.2f}/{b['accuracy']:.2f}" if b["frames"] else "-"
                    for b in reliability(probs, right)))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="score a suite teacher-forced; one line per frame")
    c.add_argument("suite")
    c.add_argument("--limit", type=int, default=None)
    c.add_argument("--out", required=True)
    c.add_argument("--every-frame", action="store_true",
                   help=f"generate every wrong frame, as eval does (default: at most {MAX_ALTERNATIVES} per record)")
    c.add_argument("--model", help="model folder (default: the bundled model)")
    c.add_argument("--device", default="cpu")
    f = sub.add_parser("fit", help="compare definitions and fit the map on collected frames")
    f.add_argument("frames", nargs="+", help="collect's files (their records are kept apart in the folds)")
    f.add_argument("--fitted-on", help="how calibration.json names the data (default: the frames file)")
    f.add_argument("--write", help="write the map here (a model folder's calibration.json)")
    k = sub.add_parser("check", help="a model's map on collected frames it was not fitted on")
    k.add_argument("frames", nargs="+", help="collect's files")
    k.add_argument("--model", help="model folder (default: the bundled model)")
    args = ap.parse_args(argv)
    return {"collect": collect, "fit": fit, "check": check}[args.command](args)


if __name__ == "__main__":
    from neurodebug.errors import UserError

    try:
        sys.exit(main())
    except UserError as e:  # a wrong model or suite: one sentence, no traceback
        sys.exit(f"error: {e}")
    except FileNotFoundError as e:
        sys.exit(f"error: There is no file {e.filename!r}.")

"""How sure the model was of what it wrote, and how well that sureness predicts being right.

A backend state gives, for each generated token, its log-probability under the distribution
decoding chose it from (the constraint applied and renormalised, at the decoding temperature,
1 when greedy; 0 for a token the constraint forced): ``State.generate(logprobs=[...])``. From
those this module makes

* a frame's ``confidence`` and each fully written local value's (:class:`Calibration`): a
  definition (which tokens, how combined) and a map fitted on the corpus's calibration split,
  carried by the model folder, so that a confidence of 0.7 means right about 70% of the time
  on real code (docs/confidence.md, the measurement); without a map, the raw probability;
* the calibration numbers ``neurodebug eval`` reports: the AUROC of confidence for "this frame's
  state is wrong", the expected calibration error and the accuracy per confidence bin.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from neurodebug.trace.frames import UNCHANGED

#: The ways of turning a frame's token log-probabilities into one log-confidence, measured side by
#: side (docs/confidence.md): the log-probability of the whole text, of its least likely token,
#: and the per-token mean (the log of the geometric mean).
DEFINITIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "product": lambda lps: sum(lps),
    "min": lambda lps: min(lps),
    "geometric_mean": lambda lps: sum(lps) / len(lps),
}

#: Which of a frame's parts (``Codec.frame_parts``) a definition reads: all its tokens, or those
#: that write its state (the event, the locals and a return's value), which is what "this frame's
#: state is right" is about; the line it names next is the action.
PART_SETS: dict[str, tuple[str, ...]] = {
    "frame": ("event", "locals", "source", "value", "end"),
    "state": ("event", "locals", "value"),
}

#: The definition frames carry without a calibration map (``Calibration.RAW``): the best AUROC on
#: synthetic_heldout, teacher-forced (docs/confidence.md).
DEFINITION = "product"

#: Equal-width confidence bins of the calibration numbers.
BINS = 10
#: Frames at least this confident are "sure": the goal is that they are right 85% of the time.
SURE = 0.9

#: A model folder's calibration map (``Calibration.load``).
CALIBRATION_FILE = "calibration.json"


def frame_confidence(logprobs: Sequence[float], definition: str = DEFINITION) -> float | None:
    """One frame's raw confidence from its tokens' log-probabilities (None for no tokens)."""
    return math.exp(DEFINITIONS[definition](logprobs)) if logprobs else None


def values_logprob(decode: Callable[[list[int]], str], ids: Sequence[int], logprobs: Sequence[float],
                   definition: str = DEFINITION) -> dict[str, float]:
    """name -> log-confidence of each value the LOCALS tokens ``ids`` write in full (not ".."):
    from the log-probabilities of the tokens that write any character of its JSON string."""
    offsets = _char_offsets(decode, list(ids))
    out = {}
    for name, (a, b) in _value_spans(decode(list(ids))).items():
        toks = [i for i in range(len(ids)) if offsets[i] < b and offsets[i + 1] > a]
        if toks:
            out[name] = DEFINITIONS[definition]([logprobs[i] for i in toks])
    return out


def values_confidence(decode: Callable[[list[int]], str], ids: Sequence[int], logprobs: Sequence[float],
                      definition: str = DEFINITION) -> dict[str, float]:
    """name -> raw confidence of each value written in full (:func:`values_logprob`)."""
    return {k: math.exp(v) for k, v in values_logprob(decode, ids, logprobs, definition).items()}


@dataclass(frozen=True)
class Platt:
    """A Platt map: P(right) = sigmoid(a * logit(p) + b), from a raw probability p given as its log.

    Monotone, so it keeps the order of confidences (and their AUROC); it moves them to how often
    frames so sure were right on the data it was fitted on."""

    a: float = 1.0
    b: float = 0.0

    def __call__(self, logprob: float) -> float:
        z = self.a * _logit(logprob) + self.b
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    @classmethod
    def fit(cls, logprobs: Sequence[float], right: Sequence[bool], l2: float = 1e-2, steps: int = 100) -> "Platt":
        """The maximum-likelihood map: Newton's method on the logistic loss, each step halved
        until the loss falls, with a little L2 for data that one threshold separates."""
        import numpy as np

        X = np.stack([np.array([_logit(lp) for lp in logprobs]), np.ones(len(logprobs))], axis=1)
        y = np.asarray(right, dtype=float)

        def loss(w):
            z = X @ w
            return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w)

        w = np.array([1.0, 0.0])
        for _ in range(steps):
            p = 0.5 * (1.0 + np.tanh(0.5 * (X @ w)))  # the sigmoid, without overflow
            grad = X.T @ (p - y) + l2 * w
            hess = X.T @ (X * (p * (1 - p))[:, None]) + l2 * np.eye(2)
            step, before = np.linalg.solve(hess, grad), loss(w)
            while loss(w - step) > before and np.abs(step).max() > 1e-12:
                step = step / 2
            w = w - step
            if np.abs(step).max() < 1e-9:
                break
        return cls(round(float(w[0]), 6), round(float(w[1]), 6))


def _logit(logprob: float) -> float:
    """logit(p) from log p, finite at p = 1 (a product of forced tokens) and p = 0."""
    lp = min(max(logprob, -50.0), -1e-9)
    return lp - math.log(-math.expm1(lp))


@dataclass(frozen=True)
class Calibration:
    """How a model's token log-probabilities become the confidence the user sees.

    ``definition``: (how, parts): a key of ``DEFINITIONS`` over the tokens of ``PART_SETS[parts]``;
    ``frame`` and ``value``: the Platt maps fitted for frames (right state) and values (the real
    value), or None for the raw probability. A model folder may carry one (``calibration.json``,
    fitted by ``benchmarks/confidence_calibration.py`` on the corpus's calibration split); without
    one the confidence is the raw probability of the whole frame (``RAW``)."""

    definition: tuple[str, str] = (DEFINITION, "frame")
    frame: Platt | None = None
    value: Platt | None = None
    fitted_on: str = ""

    def frame_confidence(self, logprobs: Sequence[float], parts: dict[str, tuple[int, int]] | None = None) -> float | None:
        """A frame's confidence from its tokens' log-probabilities, cut by ``parts`` (its
        ``Codec.frame_parts``; without them, every token counts)."""
        how, which = self.definition
        if parts is not None and which != "frame":
            logprobs = [lp for name in PART_SETS[which] for lp in logprobs[slice(*parts.get(name, (0, 0)))]]
        if not logprobs:
            return None if parts is None else 1.0  # nothing of that part to doubt (a forced frame)
        lp = DEFINITIONS[how](logprobs)
        return self.frame(lp) if self.frame else math.exp(lp)

    def values_confidence(self, decode: Callable[[list[int]], str], ids: Sequence[int],
                          logprobs: Sequence[float]) -> dict[str, float]:
        """name -> confidence of each value written in full (:func:`values_logprob`, mapped)."""
        got = values_logprob(decode, ids, logprobs, self.definition[0])
        return {k: self.value(v) if self.value else math.exp(v) for k, v in got.items()}

    def save(self, path: str) -> None:
        data = {"definition": list(self.definition), "fitted_on": self.fitted_on,
                "frame": asdict(self.frame) if self.frame else None,
                "value": asdict(self.value) if self.value else None}
        with open(path, "w") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")

    @classmethod
    def load(cls, folder: str | None) -> "Calibration":
        """A model folder's map, or ``RAW`` when it has none."""
        path = os.path.join(folder, CALIBRATION_FILE) if folder else None
        if not path or not os.path.isfile(path):
            return RAW
        with open(path) as fh:
            data = json.load(fh)
        return cls(tuple(data["definition"]), Platt(**data["frame"]) if data.get("frame") else None,
                   Platt(**data["value"]) if data.get("value") else None, data.get("fitted_on", ""))


#: No map: the raw probability of the whole frame.
RAW = Calibration()


def _char_offsets(decode, ids: list[int]) -> list[int]:
    """offsets[i]: where token i's text starts in the decoded text (offsets[-1]: its length)."""
    return [len(decode(ids[:k])) for k in range(len(ids) + 1)]


def _value_spans(text: str) -> dict[str, tuple[int, int]]:
    """name -> (start, end) of each value's JSON string (quotes included) in a LOCALS object's
    text, for the values written in full; {} when the text is not such an object."""
    dec = json.JSONDecoder()
    spans: dict[str, tuple[int, int]] = {}
    i = _skip(text, 0)
    if not text.startswith("{", i):
        return {}
    i = _skip(text, i + 1)
    try:
        while i < len(text) and text[i] != "}":
            key, i = dec.raw_decode(text, i)
            i = _skip(text, i)
            if not text.startswith(":", i):
                return spans
            start = _skip(text, i + 1)
            value, i = dec.raw_decode(text, start)
            if isinstance(key, str) and value != UNCHANGED:
                spans[key] = (start, i)
            i = _skip(text, i)
            i = _skip(text, i + 1) if text.startswith(",", i) else i
    except ValueError:
        return spans  # a frame cut off inside its locals: the values written before the cut
    return spans


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def renormalised(token: int, logprob: float, top: dict[int, float], allowed, temperature: float = 1.0,
                 tolerance: float = 1e-3) -> float | None:
    """A token's log-probability under the constraint from what a server gives (its logprob and
    the top tokens', of the model's distribution), at ``temperature`` (1 when greedy); None when
    what the server named cannot fix it within ``tolerance`` (an absolute error of the probability).

    The allowed tokens the server named give a lower bound S of the allowed mass; the others
    each weigh at most the least likely named token (they are not in the top), and together at
    most what the named tokens leave of 1, which bounds the rest U. The estimate takes U/2, off
    by at most U/(2S) of the probability. Without a constraint at temperature 1 it is exact."""
    t = temperature if temperature > 0.0 else 1.0
    if allowed is None and t == 1.0:
        return logprob
    if allowed is None:
        return None  # the unnamed tail at another temperature is not bounded by what was named
    named = {i: lp for i, lp in top.items() if i in allowed}
    named[token] = logprob
    shift = max(lp / t for lp in named.values())
    s = sum(math.exp(lp / t - shift) for lp in named.values())
    others = [lp for i, lp in top.items() if i != token]
    unnamed = len(allowed) - len(named)
    if unnamed <= 0:
        rest = 0.0
    elif not others:
        return None
    else:
        rest = unnamed * math.exp(min(others) / t - shift)
        if t == 1.0:
            left = 1.0 - sum(math.exp(lp) for lp in {**top, token: logprob}.values())
            rest = min(rest, max(left, 0.0) * math.exp(-shift))
    if rest / (2 * s) > tolerance:
        return None
    return logprob / t - shift - math.log(s + rest / 2)


def unsure(confidence: float | None, below: float) -> bool:
    """Whether a front end marks a frame or value as unsure (``SessionOptions.unsure_below``): a
    real or forced one, which has no confidence, never is."""
    return confidence is not None and confidence < below


# -- calibration ------------------------------------------------------------------------------------


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """The probability that a positive scores higher than a negative (ties count half): the
    Mann-Whitney statistic from average ranks. None without both kinds."""
    import numpy as np

    s = np.asarray(scores, dtype=float)
    y = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    for v in np.unique(s):  # ties share their average rank
        tie = s == v
        ranks[tie] = ranks[tie].mean()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> list[dict]:
    """Per equal-width confidence bin ([k/bins, (k+1)/bins), the last one closed): the frames in
    it, their mean confidence and their accuracy (None for an empty bin)."""
    rows = []
    for k in range(bins):
        lo, hi = k / bins, (k + 1) / bins
        inside = [ok for c, ok in zip(confidence, correct) if lo <= c < hi or (k == bins - 1 and c == 1.0)]
        confs = [c for c in confidence if lo <= c < hi or (k == bins - 1 and c == 1.0)]
        rows.append({"low": lo, "high": hi, "frames": len(inside),
                     "confidence": sum(confs) / len(confs) if confs else None,
                     "accuracy": sum(inside) / len(inside) if inside else None})
    return rows


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> float | None:
    """The frames' weighted mean gap between confidence and accuracy over equal-width bins."""
    n = len(confidence)
    if not n:
        return None
    return sum(r["frames"] / n * abs(r["accuracy"] - r["confidence"])
               for r in reliability(confidence, correct, bins) if r["frames"])


def calibration(confidence: Sequence[float | None], state_ok: Sequence[bool], bins: int = BINS) -> dict:
    """The calibration of the frames that have a confidence: AUROC of confidence for a wrong
    state (1 - confidence as the score), ECE and the bins, and how many frames were scored."""
    pairs = [(c, ok) for c, ok in zip(confidence, state_ok) if c is not None]
    conf = [c for c, _ in pairs]
    ok = [bool(o) for _, o in pairs]
    sure = [o for c, o in zip(conf, ok) if c >= SURE]
    return {"frames": len(pairs),
            "auroc_state_wrong": auroc([1.0 - c for c in conf], [not o for o in ok]),
            "ece": expected_calibration_error(conf, ok, bins),
            "sure_frames": len(sure), "sure_right": sum(sure) / len(sure) if sure else None,
            "bins": reliability(conf, ok, bins)}


def first_divergence_flagged(frames: Sequence[tuple[float | None, bool]], below: float) -> tuple[bool, bool] | None:
    """For one free-running trace's scored frames in order, (confidence, state right): whether its
    first wrong frame is its first frame below ``below``, and whether some frame at or before it
    is; None when no frame is wrong."""
    wrong = next((i for i, (_, ok) in enumerate(frames) if not ok), None)
    if wrong is None:
        return None
    unsure_at = next((i for i, (c, _) in enumerate(frames) if unsure(c, below)), None)
    return unsure_at == wrong, unsure_at is not None and unsure_at <= wrong

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

#: A frame's parts (``Codec.frame_parts``) that write its state: the event, the locals and a
#: return's value, which is what "this frame's state is right" is about; the line it names next
#: (its source) is the action.
STATE_PARTS = ("event", "locals", "value")

#: The definition frames carry without a calibration map (``RAW``): the best AUROC on
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


# -- the calibration map ------------------------------------------------------------------------------


def frame_features(parts: dict[str, Sequence[float]], values: Sequence[float] = (),
                   first: bool = False) -> dict[str, float]:
    """What a frame's calibration map reads: summaries of its tokens' log-probabilities, of all
    of them and of those that write its state, their counts, whether it is a return (whose value
    is the hardest part to get right), the least likely of the values its locals write in full,
    and whether it is the trace's first frame after its call frame: that one mostly copies the
    arguments the call states, so it is right far more often than its many tokens'
    product says (96% at a mean product of 0.72 on the calibration split, against 45% at 0.44).
    ``parts``: each part's log-probabilities; ``values``: each written value's."""
    every = [lp for name in ("event", "locals", "source", "value", "end") for lp in parts.get(name, ())]
    state = [lp for name in STATE_PARTS for lp in parts.get(name, ())]
    return {"logit_product": _logit(sum(every)), "min": min(every, default=0.0),
            "state_mean": sum(state) / len(state) if state else 0.0, "state_min": min(state, default=0.0),
            "returns": 1.0 if "value" in parts else 0.0, "log_tokens": math.log1p(len(every)),
            "log_state_tokens": math.log1p(len(state)), "values_min_logit": _logit(min(values, default=0.0)),
            "first": 1.0 if first else 0.0}


def value_features(logprob: float) -> dict[str, float]:
    """What a value's map reads: the logit of its probability (a Platt map)."""
    return {"logit": _logit(logprob)}


@dataclass(frozen=True)
class Logistic:
    """P(right) = sigmoid(bias + sum of weight * feature), over named features: fitted by
    maximum likelihood on the calibration split (``benchmarks/confidence_calibration.py``).
    On the one feature ``logit`` it is a Platt map."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float = 0.0

    def __call__(self, x: dict[str, float]) -> float:
        z = self.bias + sum(w * x[name] for name, w in zip(self.features, self.weights))
        return 0.5 * (1.0 + math.tanh(0.5 * z))  # the sigmoid, without overflow

    @classmethod
    def fit(cls, features: Sequence[str], xs: Sequence[dict[str, float]], right: Sequence[bool],
            l2: float = 1e-2, steps: int = 100) -> "Logistic":
        """Newton's method on the logistic loss, each step halved until the loss falls, with a
        little L2 on the weights for data that one threshold separates."""
        import numpy as np

        X = np.array([[x[name] for name in features] + [1.0] for x in xs], dtype=float)
        y = np.asarray(right, dtype=float)
        ridge = l2 * np.diag([1.0] * len(features) + [0.0])

        def loss(w):
            z = X @ w
            return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * w @ ridge @ w)

        w = np.zeros(X.shape[1])
        for _ in range(steps):
            p = 0.5 * (1.0 + np.tanh(0.5 * (X @ w)))
            grad = X.T @ (p - y) + ridge @ w
            hess = X.T @ (X * (p * (1 - p))[:, None]) + ridge + 1e-9 * np.eye(len(w))
            step, before = np.linalg.solve(hess, grad), loss(w)
            while loss(w - step) > before and np.abs(step).max() > 1e-12:
                step = step / 2
            w = w - step
            if np.abs(step).max() < 1e-9:
                break
        return cls(tuple(features), tuple(round(float(v), 6) for v in w[:-1]), round(float(w[-1]), 6))


def _logit(logprob: float) -> float:
    """logit(p) from log p, finite at p = 1 (a product of forced tokens) and p = 0."""
    lp = min(max(logprob, -50.0), -1e-9)
    return lp - math.log(-math.expm1(lp))


@dataclass(frozen=True)
class Calibration:
    """How a model's token log-probabilities become the confidence a user sees: a frame's (its
    state is right) and a value's (it is the real value).

    ``frame`` and ``value``: the maps fitted on the corpus's calibration split (``Logistic`` over
    :func:`frame_features` and :func:`value_features`), or None for the raw probability (the
    product of the tokens' probabilities). A model folder carries its maps in
    ``calibration.json``; a model without one (CWM itself) shows raw probabilities (``RAW``)."""

    frame: Logistic | None = None
    value: Logistic | None = None
    fitted_on: str = ""

    def frame_confidence(self, logprobs: Sequence[float], parts: dict[str, tuple[int, int]] | None = None,
                         values: dict[str, float] | None = None, first: bool = False) -> float | None:
        """A frame's confidence from its tokens' log-probabilities, cut into the frame's parts by
        ``parts`` (its ``Codec.frame_parts``; without them, all of them as its locals), and the
        log-probabilities of the values it writes in full (:func:`values_logprob`); ``first``: it is
        the frame right after the call frame (:func:`frame_features`). Its state is
        right only if each of those values is: it is never surer than its least sure value."""
        if not logprobs:
            return None
        if self.frame is None:
            return math.exp(sum(logprobs))
        cut = {name: logprobs[a:b] for name, (a, b) in (parts or {"locals": (0, len(logprobs))}).items()}
        lps = list((values or {}).values())
        return min([self.frame(frame_features(cut, lps, first))] + [self.value_confidence(lp) for lp in lps])

    def values_confidence(self, decode: Callable[[list[int]], str], ids: Sequence[int],
                          logprobs: Sequence[float]) -> dict[str, float]:
        """name -> confidence of each value written in full (:func:`values_logprob`, mapped)."""
        return {k: self.value_confidence(v) for k, v in values_logprob(decode, ids, logprobs).items()}

    def value_confidence(self, logprob: float) -> float:
        """One value's confidence from its log-probability (an alternative's too)."""
        return self.value(value_features(logprob)) if self.value else math.exp(logprob)

    def save(self, path: str) -> None:
        data = {"fitted_on": self.fitted_on, "frame": asdict(self.frame) if self.frame else None,
                "value": asdict(self.value) if self.value else None}
        with open(path, "w") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")

    @classmethod
    def load(cls, folder: str | None) -> "Calibration":
        """A model folder's maps, or ``RAW`` when it has none."""
        path = os.path.join(folder, CALIBRATION_FILE) if folder else None
        if not path or not os.path.isfile(path):
            return RAW
        with open(path) as fh:
            data = json.load(fh)

        def logistic(d):
            return Logistic(tuple(d["features"]), tuple(d["weights"]), d["bias"]) if d else None

        return cls(logistic(data.get("frame")), logistic(data.get("value")), data.get("fitted_on", ""))


#: No map: the raw probability of the whole frame, and of each value.
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


def on_track(confidences: Sequence[float | None]) -> list[float | None]:
    """How likely a free-running prediction is still on the real path at each of its frames:
    the product of its frames' confidences so far. Each frame's confidence is how likely it is
    right given the frames before it (teacher-forced, that history is the real one); free-running,
    a frame is right against the real run only if the frames before it were too, so their product
    is the honest number (docs/confidence.md measures it). A frame the session wrote (None: the
    call, an edit, a real frame taken) is certain and starts the product again."""
    out: list[float | None] = []
    p = 1.0
    for c in confidences:
        p = 1.0 if c is None else p * c
        out.append(None if c is None else p)
    return out


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

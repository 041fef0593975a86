"""A real Predictor whose "model" is a set of memorised token sequences (real traces, encoded).

Its next token after ``ids`` is the token that follows ``ids`` in the first memorised sequence
that starts with ``ids``; when none does (or the sequence is used up) it says end_of_text. That
makes a deterministic, well-formed predictor: given the encoding of the real run it reproduces
it, given a trace with a planted mistake it diverges exactly there, and given several traces of
one function it follows whichever one the session's edited state leads into. ``delay_s`` slows
each token down so that cancelling has something to interrupt.

It also memorises each trace with callee bodies left out (a call frame followed directly by the
callee's return frame): what the session writes when it steps over a call the way CWM's debugger
demo does (a forced ``<|return_sep|>`` after the call frame, the model supplying the value).
"""

from __future__ import annotations

import time
from typing import Sequence

from neurodebug.backends.base import Predictor, State
from neurodebug.codec import Codec
from neurodebug.trace.frames import Trace


class ReplayState(State):
    def __init__(self, predictor: "ReplayPredictor", prompt_ids: Sequence[int]):
        self.p = predictor
        self._ids = list(prompt_ids)
        self.tokens_computed = len(self._ids)

    @property
    def ids(self) -> list[int]:
        return self._ids

    def extend(self, ids: Sequence[int]) -> None:
        self._ids.extend(int(i) for i in ids)
        self.tokens_computed += len(ids)

    def truncate(self, n: int) -> None:
        del self._ids[n:]

    def generate(self, max_new_tokens, stop_ids=(), temperature=0.0, top_p=1.0, seed=None,
                 on_token=None, should_stop=None) -> list[int]:
        new: list[int] = []
        stops = set(stop_ids)
        while len(new) < max_new_tokens:
            if should_stop is not None and should_stop():
                break
            if self.p.delay_s:
                time.sleep(self.p.delay_s)
            tok = self.p.next_token(self._ids)
            self._ids.append(tok)
            new.append(tok)
            self.tokens_computed += 1
            if on_token is not None:
                on_token(tok)
            if tok in stops:
                break
        return new


class ReplayPredictor(Predictor):
    def __init__(self, tokenizer, traces: Sequence[Trace], name: str = "replay", delay_s: float = 0.0):
        self.tokenizer = tokenizer
        self.codec = Codec(tokenizer)
        self.name = name
        self.delay_s = delay_s
        self.sequences = [self.codec.encode_trace(v, close=True)[0] for t in traces for v in stepped_over(t)]
        self.end_id = self.codec.end_of_text_id

    def next_token(self, ids: Sequence[int]) -> int:
        n = len(ids)
        for seq in self.sequences:
            if len(seq) > n and seq[:n] == list(ids):
                return seq[n]
        return self.end_id

    def open(self, prompt_ids: Sequence[int]) -> ReplayState:
        return ReplayState(self, prompt_ids)

    def greedy_argmax(self, ids: Sequence[int]) -> list[int]:
        ids = list(ids)
        return [self.next_token(ids[: p + 1]) for p in range(len(ids))]


def replay_from_argv(argv: list[str]) -> "ReplayPredictor":
    """The predictor of a replaying server script's command line: ``TRACES.json [--delay S]``,
    TRACES.json a list of Trace JSON dicts (Trace.to_json_dict()), on CWM's tokenizer."""
    import json

    from neurodebug.model.tokenizer import llama3_tokenizer

    path, delay = argv[0], 0.0
    if "--delay" in argv:
        delay = float(argv[argv.index("--delay") + 1])
    traces = [Trace.from_json_dict(d) for d in json.loads(open(path, encoding="utf-8").read())]
    return ReplayPredictor(llama3_tokenizer(), traces, delay_s=delay)


def stepped_over(trace: Trace, limit: int = 64) -> list[Trace]:
    """``trace`` and its variants with any combination of callee bodies left out (at most ``limit``)."""
    frames = trace.frames
    calls = []
    for c, f in enumerate(frames):
        if f.event == "call" and f.depth > 0:
            r = next((j for j in range(c + 1, len(frames)) if frames[j].event == "return" and frames[j].depth == f.depth), None)
            if r is not None and r > c + 1:
                calls.append((c, r))
    variants = [list(range(len(frames)))]
    for c, r in calls:
        for kept in list(variants):
            if c in kept and len(variants) < limit:
                variants.append([i for i in kept if not c < i < r])
    return [Trace(trace.source, trace.entry, trace.call, [frames[i] for i in kept], trace.end) for kept in variants]

"""A real Predictor whose model is a set of memorised traces, and the server that uses it.

Its next token after ``ids`` is the one that follows ``ids`` in the first memorised token
sequence starting with ``ids`` (end_of_text when none does). Fed the encoding of a trace with
a planted mistake, a session predicts exactly that trace: a deterministic, real divergence
from the real run, for end-to-end tests of the editor front ends.

Run as a script it is a language server:
    python -m tests.lsp.replay TRACES.json [--delay S]
where TRACES.json is a list of Trace JSON dicts (Trace.to_json_dict()).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Sequence

from neurodebug.backends.base import Predictor, State
from neurodebug.codec import Codec
from neurodebug.frames import Trace


class ReplayState(State):
    def __init__(self, predictor: "ReplayPredictor", prompt_ids: Sequence[int]):
        self.predictor = predictor
        self._ids = [int(i) for i in prompt_ids]
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
        while len(new) < max_new_tokens and not (should_stop is not None and should_stop()):
            if self.predictor.delay_s:
                time.sleep(self.predictor.delay_s)
            token = self.predictor.next_token(self._ids)
            self._ids.append(token)
            new.append(token)
            self.tokens_computed += 1
            if on_token is not None:
                on_token(token)
            if token in stop_ids:
                break
        return new


class ReplayPredictor(Predictor):
    def __init__(self, tokenizer, traces: Sequence[Trace], delay_s: float = 0.0):
        self.tokenizer = tokenizer
        self.name = "replay"
        self.delay_s = delay_s
        codec = Codec(tokenizer)
        self.sequences = [codec.encode_trace(t, close=True)[0] for t in traces]
        self.end_id = codec.end_of_text_id

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


def main(argv: list[str]) -> None:
    from lsp.server import main as serve
    from model.tokenizer import llama3_tokenizer

    path, delay = argv[0], 0.0
    if "--delay" in argv:
        delay = float(argv[argv.index("--delay") + 1])
    traces = [Trace.from_json_dict(d) for d in json.loads(open(path, encoding="utf-8").read())]
    tokenizer = llama3_tokenizer()
    serve(predictor_factory=lambda settings: ReplayPredictor(tokenizer, traces, delay_s=delay))


if __name__ == "__main__":
    main(sys.argv[1:])

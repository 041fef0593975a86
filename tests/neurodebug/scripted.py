"""A teacher for debugger tests: the real local model, steered along known token streams.

A random checkpoint writes malformed frames, which is enough to test mechanics but not to
check that a session assembles the right frames. ``ScriptedPredictor`` wraps a real
LocalPredictor: wherever the state's ids are a prefix of one of its scripts (typically the
real trace's encoding, i.e. the teacher path), "generation" emits the script's next token and
the model still computes it (so KV cache lengths and cost counters are real); elsewhere the
model generates by itself.
"""

from __future__ import annotations

from neurodebug.backends.base import Predictor
from neurodebug.backends.local import LocalPredictor, LocalState


class ScriptedState(LocalState):
    #: the scripts are followed as they are: no constraint restricts them (the State declares it)
    applies_constraint = False
    supports_beam = False

    def generate(self, max_new_tokens, stop_ids=(), temperature=0.0, top_p=1.0, seed=None,
                 on_token=None, should_stop=None, *, logprobs=None):
        """The script's tokens, each certain (log-probability 0: the script is the teacher's
        whole distribution), then the model's own with their log-probabilities."""
        out: list[int] = []
        stop = set(stop_ids)
        while len(out) < max_new_tokens:
            if should_stop is not None and should_stop():
                break
            nxt = self.p.script_next(self.seq.ids)
            if nxt is None:
                return out + super().generate(max_new_tokens - len(out), stop_ids, temperature, top_p, seed,
                                              on_token, should_stop, logprobs=logprobs)
            before = self.seq.computed
            self.seq.extend([nxt], logits="last")  # as real decoding does: the next-token logits
            self.tokens_computed += self.seq.computed - before
            out.append(nxt)
            if logprobs is not None:
                logprobs.append(0.0)
            self.p.emitted += 1
            if on_token is not None:
                on_token(nxt)
            if self.p.after_token is not None:
                self.p.after_token(self.p.emitted)
            if nxt in stop:
                break
        return out

    def generate_logprobs(self, max_new_tokens, k, stop_ids=(), temperature=0.0, top_p=1.0, seed=None,
                          on_token=None, should_stop=None, *, constraint=None):
        """What `neurodebug serve` asks for vLLM's logprobs: the script's tokens, each certain."""
        logprobs: list[float] = []
        new = self.generate(max_new_tokens, stop_ids, temperature, top_p, seed, on_token, should_stop,
                            logprobs=logprobs)
        return new, [(lp, []) for lp in logprobs]


class ScriptedPredictor(Predictor):
    def __init__(self, base: LocalPredictor, scripts: list[list[int]]):
        self.base = base
        self.model = base.model
        self.lookahead = base.lookahead  # off the script, the model decodes as the base would
        self.scripts = [list(s) for s in scripts]
        self.tokenizer = base.tokenizer
        self.context_limit = base.context_limit
        self.name = "scripted " + base.name
        self.emitted = 0
        self.after_token = None  # called with the count of emitted tokens (tests use it to cancel)

    def script_next(self, ids: list[int]) -> int | None:
        p = len(ids)
        for s in self.scripts:
            if len(s) > p and s[:p] == ids:
                return s[p]
        return None

    def open(self, prompt_ids):
        return ScriptedState(self, prompt_ids)

    def greedy_argmax(self, ids):
        out = self.base.greedy_argmax(ids)  # the real forward pass, for its cost
        ids = list(ids)
        for p in range(len(ids)):
            nxt = self.script_next(ids[: p + 1])
            if nxt is not None:
                out[p] = nxt
        return out

    supports_prompt_logprobs = True

    def prompt_logprobs(self, ids, ranks=True):
        """The base model's rows with the top token replaced by the script's where it applies."""
        rows = self.base.prompt_logprobs(ids, ranks)
        ids = list(ids)
        for p, (top, top_lp, lp, rank) in enumerate(rows):
            nxt = self.script_next(ids[: p + 1])
            if nxt is not None:
                rows[p] = (nxt, top_lp, lp, 1 if p + 1 < len(ids) and ids[p + 1] == nxt else rank)
        return rows

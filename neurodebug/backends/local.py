"""The local backend: neurodebug's own runtime (`model/`), one KV cache per session.

A session's state is a runtime Sequence: extending it computes only the new tokens, and
truncating it cuts the KV cache back (a debugger stepping back or editing a frame pays for
nothing before the edit).
"""

from __future__ import annotations

from typing import Sequence

from neurodebug.backends.base import Predictor, State
from neurodebug.confidence import Calibration

#: Teacher forcing runs the forward pass in chunks of this many tokens (bounds logits memory).
ARGMAX_CHUNK = 512


class LocalState(State):
    """A runtime Sequence; ``tokens_computed`` counts the positions the model actually ran,
    ``forwards`` the forward passes it took (fewer than the tokens: ``model.lookahead``)."""

    def __init__(self, predictor: "LocalPredictor", prompt_ids: Sequence[int]):
        self.p = predictor
        self.seq = predictor.model.sequence()
        self.tokens_computed = 0
        if prompt_ids:
            self.extend(prompt_ids)

    @property
    def ids(self) -> list[int]:
        return self.seq.ids

    @property
    def forwards(self) -> int:
        return self.seq.forwards

    def __len__(self) -> int:
        return len(self.seq)

    def extend(self, ids: Sequence[int]) -> None:
        before = self.seq.tokens_run
        self.seq.extend(list(ids), logits="none")
        self.tokens_computed += self.seq.tokens_run - before

    def truncate(self, n: int) -> None:
        self.seq.truncate(n)

    applies_constraint = True
    gives_logprobs = True
    gives_top_tokens = True

    def generate(self, max_new_tokens, stop_ids=(), temperature=0.0, top_p=1.0, seed=None,
                 on_token=None, should_stop=None, *, constraint=None, logprobs=None) -> list[int]:
        before = self.seq.tokens_run
        new = self.seq.generate(max_new_tokens, stop_ids=tuple(stop_ids), temperature=temperature, top_p=top_p,
                                seed=seed, on_token=on_token, should_stop=should_stop, constraint=constraint,
                                lookahead=self.p.lookahead, on_choice=_recorder(logprobs, temperature))
        # the runtime computes a token when it is needed: the last generated one stays pending
        # and is paid for by the next extend/generate, which counts it then
        self.tokens_computed += self.seq.tokens_run - before
        return list(new)

    def generate_logprobs(self, max_new_tokens, k: int, stop_ids=(), temperature=0.0, top_p=1.0, seed=None,
                          on_token=None, should_stop=None, *, constraint=None, token_ids=None
                          ) -> tuple[list[int], list[tuple[float, list[tuple[int, float]]]]]:
        """Like generate, and for every new token its logprob and the ``k`` most likely tokens
        with theirs (vLLM's ``logprobs``; from the model's distribution, before temperature and
        any constraint), or, given ``token_ids``, those tokens with theirs (vLLM's
        ``logprob_token_ids``)."""
        import torch

        steps: list[tuple[float, list[tuple[int, float]]]] = []

        def on_logits(logits, tok: int) -> None:
            lp = torch.log_softmax(logits.float(), -1)
            if token_ids is not None:
                pairs = [(int(i), float(lp[i])) for i in token_ids]
            else:
                top = torch.topk(lp, min(max(k, 0), lp.shape[-1])) if k > 0 else None
                pairs = [] if top is None else [(int(i), float(v)) for v, i in zip(top.values.tolist(), top.indices.tolist())]
            steps.append((float(lp[tok]), pairs))

        before = self.seq.tokens_run
        new = self.seq.generate(max_new_tokens, stop_ids=tuple(stop_ids), temperature=temperature, top_p=top_p,
                                seed=seed, on_token=on_token, should_stop=should_stop, on_logits=on_logits,
                                constraint=constraint)
        self.tokens_computed += self.seq.tokens_run - before
        return list(new), steps

    supports_beam = True

    def beam(self, width: int, max_new_tokens: int, stop_ids=(), should_stop=None, *, constraint=None,
             logprobs=None) -> list[int]:
        """The most likely continuation by beam search (``model.runtime.Sequence.beam``), appended;
        ``constraint``: a factory of constraint hooks, one per hypothesis; ``logprobs`` as generate's."""
        before = self.seq.tokens_run
        new = self.seq.beam(width, max_new_tokens, stop_ids=tuple(stop_ids), should_stop=should_stop,
                            constraint=constraint, logprobs=logprobs)
        self.tokens_computed += self.seq.tokens_run - before
        return list(new)


def _recorder(logprobs: list | None, temperature: float):
    """The runtime's on_choice hook that appends each token's log-probability to ``logprobs``
    (None when nobody asked: nothing is computed)."""
    if logprobs is None:
        return None
    from neurodebug.model.generate import choice_logprob

    def on_choice(logits, allowed, token: int) -> None:
        logprobs.append(0.0 if logits is None else choice_logprob(logits, allowed, token, temperature))

    return on_choice


def _lookahead(choice):
    """The Lookahead a predictor uses: "default" -> model.lookahead.DEFAULT, else as given."""
    if isinstance(choice, str) and choice == "default":
        from neurodebug.model.lookahead import DEFAULT

        return DEFAULT
    return choice


#: Below this hidden size, decoding on a CPU runs one token's small matmuls faster on one thread
#: than on several (thread start-up dominates; under load, several threads thrash: measured
#: 136 tok/s on one thread against 14 on two for the bundled model on a busy 2-core machine).
SMALL_MODEL_DIM = 1024


def _pick_cpu_threads(config, device) -> None:
    import os

    import torch

    wanted = os.environ.get("NEURODEBUG_THREADS", "")
    if str(device).startswith("cpu") and wanted.isdigit():
        torch.set_num_threads(max(1, int(wanted)))
    elif str(device).startswith("cpu") and getattr(config, "dim", SMALL_MODEL_DIM) < SMALL_MODEL_DIM:
        torch.set_num_threads(1)


class LocalPredictor(Predictor):
    """The runtime of ``model/``. ``lookahead``: a ``model.lookahead.Lookahead`` (jump-forward of
    forced tokens and prompt-lookup drafts: the same greedy frames in fewer forwards; the default
    one unless given), or None for one forward per token."""

    def __init__(self, path: str, device: str = "cpu", dtype=None, attention: str = "auto", lookahead="default",
                 quantize: str | None = None):
        from neurodebug.model import load_model  # torch stays out of neurodebug's import path

        self.model = load_model(path, device=device, dtype=dtype, attention=attention, quantize=quantize)
        self.lookahead = _lookahead(lookahead)
        _pick_cpu_threads(self.model.config, device)
        self.tokenizer = self.model.tokenizer
        self.path = str(path)
        self.calibration = Calibration.load(self.path)
        self.name = f"local {path}"
        self.context_limit = getattr(self.model.config, "max_position_embeddings", None)

    @classmethod
    def from_runtime(cls, runtime, name: str | None = None, lookahead="default") -> "LocalPredictor":
        """Wrap an already loaded runtime (model.CWM) without loading it again."""
        p = cls.__new__(cls)
        p.model = runtime
        p.lookahead = _lookahead(lookahead)
        p.tokenizer = runtime.tokenizer
        p.path = str(runtime.directory)
        p.calibration = Calibration.load(p.path)
        p.name = name or f"local {runtime.directory}"
        p.context_limit = getattr(runtime.config, "max_position_embeddings", None)
        return p

    def open(self, prompt_ids: Sequence[int]) -> LocalState:
        return LocalState(self, prompt_ids)

    def greedy_argmax(self, ids: Sequence[int]) -> list[int]:
        return [row[0] for row in self.prompt_logprobs(ids, ranks=False)]

    supports_prompt_logprobs = True

    def prompt_logprobs(self, ids: Sequence[int], ranks: bool = True) -> list[tuple[int, float, float, int]]:
        """Per position p: (top token after ids[:p+1], its logprob, logprob of ids[p+1], its rank).

        The last position has no next token: its actual logprob is nan and rank 0. One forward
        pass in chunks (``ARGMAX_CHUNK``) so the logits of a long trace never sit in memory at once.
        """
        import torch

        seq = self.model.sequence()
        out: list[tuple[int, float, float, int]] = []
        ids = list(ids)
        for i in range(0, len(ids), ARGMAX_CHUNK):
            logits = seq.extend(ids[i : i + ARGMAX_CHUNK], logits="all")
            top = logits.argmax(-1)
            if not ranks:
                out.extend((int(t), 0.0, 0.0, 0) for t in top.tolist())
                continue
            lp = torch.log_softmax(logits, -1)
            nxt = torch.tensor(ids[i + 1 : i + 1 + len(logits)] + [0] * (len(logits) - len(ids[i + 1 : i + 1 + len(logits)])))
            actual = lp.gather(-1, nxt[:, None])[:, 0]
            rank = (lp > actual[:, None]).sum(-1) + 1
            for k in range(len(logits)):
                last = i + k == len(ids) - 1
                out.append((int(top[k]), float(lp[k, top[k]]), float("nan") if last else float(actual[k]),
                            0 if last else int(rank[k])))
        return out

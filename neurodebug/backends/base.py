"""The Predictor interface every backend implements.

A Predictor turns token ids into the model's next tokens. A debugger session opens one *state*
per session (the prompt and every frame so far) and moves it forward and backward:

    state = predictor.open(prompt_ids)
    state.extend(ids)                # append forced tokens (a frame the user or the real run fixed)
    new = state.generate(max_new_tokens, stop_ids=..., temperature=..., top_p=..., seed=...,
                         on_token=..., should_stop=...,
                         constraint=...)  # appended to the state, stop token included
    state.truncate(n)                # back to the first n tokens (step back, edit a frame)
    len(state); state.ids; state.tokens_computed (tokens the model actually ran, a cost counter);
    state.forwards (forward passes, or requests, it took)

and ``predictor.greedy_argmax(ids)`` returns, for every position p, the model's greedy choice
for position p+1 (teacher forcing: one forward pass scores a whole real trace).

``constraint`` (keyword-only, default None) restricts each generated token: an object with
``allowed(generated) -> Sequence[int] | None`` (the protocol of ``model/runtime.py``; the
debugger's is ``neurodebug.constrain``). A state whose ``applies_constraint`` is True honours it
(local, transformers, and http over vLLM's contract, which repairs free text with
``allowed_token_ids``); over Meta's contract the http backend accepts the keyword and ignores
it (the server decodes freely), and says so with ``applies_constraint = False``.

``logprobs`` (keyword-only, default None): a list to which a state whose ``gives_logprobs`` is
True appends, for each new token, its log-probability under the distribution decoding chose it
from: the constraint applied (renormalised over the allowed tokens), at the decoding temperature
(1 when greedy); 0 for a token the constraint forced. It is what frames' ``confidence`` is made
of (``neurodebug.confidence``), from logits the model computes anyway.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Sequence

from neurodebug.confidence import RAW, Calibration


class State(ABC):
    """Token ids owned by one session, and whatever the backend keeps to extend them cheaply."""

    #: tokens the model computed for this state (prefill + decode), the cost of a session
    tokens_computed: int = 0
    #: forward passes (or requests) the model ran for this state: with jump-forward and
    #: speculation, fewer than the tokens it generated
    forwards: int = 0
    #: True when generate(constraint=...) restricts the tokens (see the module docstring)
    applies_constraint: bool = False
    #: True when generate(logprobs=[...]) fills the list (see the module docstring)
    gives_logprobs: bool = False
    #: True when ``beam(width, max_new_tokens, stop_ids, should_stop, constraint=factory, logprobs=None)``
    #: finds the most likely continuation by beam search (the local backend; ``logprobs`` as
    #: generate's); elsewhere decoding is greedy
    supports_beam: bool = False
    #: True when ``generate_logprobs(max_new_tokens, k)`` also gives each step's ``k`` most likely
    #: tokens (the local backend): what a value's alternatives are made of (neurodebug.alternatives)
    gives_top_tokens: bool = False

    @property
    @abstractmethod
    def ids(self) -> list[int]: ...

    def __len__(self) -> int:
        return len(self.ids)

    @abstractmethod
    def extend(self, ids: Sequence[int]) -> None: ...

    @abstractmethod
    def truncate(self, n: int) -> None: ...

    @abstractmethod
    def generate(
        self,
        max_new_tokens: int,
        stop_ids: Sequence[int] = (),
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        on_token: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        *,
        constraint=None,
        logprobs: list[float] | None = None,
    ) -> list[int]:
        """Generate up to max_new_tokens, appending them (stop token included) to the state.
        ``constraint``, ``logprobs``: see the module docstring (None: unconstrained, not asked)."""


class Predictor(ABC):
    """A model behind one of the backends; ``name`` says which, for humans."""

    name: str = "predictor"
    tokenizer = None
    #: the longest token sequence the model accepts, when known
    context_limit: int | None = None
    #: how its tokens' log-probabilities become the confidence a user sees: the model folder's
    #: calibration map (``neurodebug.confidence.Calibration``), or the raw probability
    calibration: Calibration = RAW
    #: True when :meth:`prompt_logprobs` scores a prompt (the local backend: what `serve` answers
    #: vLLM's prompt_logprobs with)
    supports_prompt_logprobs: bool = False

    @abstractmethod
    def open(self, prompt_ids: Sequence[int]) -> State: ...

    @abstractmethod
    def greedy_argmax(self, ids: Sequence[int]) -> list[int]:
        """out[p] = argmax of the model's next-token distribution after ids[: p + 1]."""

    def prompt_logprobs(self, ids: Sequence[int]) -> list[tuple[int, float, float, int]]:
        """Per position p: (top token, its logprob, the logprob and rank of ids[p + 1]); only
        where ``supports_prompt_logprobs``."""
        raise NotImplementedError(f"{self.name} cannot score a prompt.")

    def close(self) -> None:
        """Release what the predictor holds (connections, memory)."""

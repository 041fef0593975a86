"""The runtime's public face: a loaded model and the sequences that run on it.

    m = load_model("path/or/facebook/cwm", device="cpu", dtype=None, attention="auto", quantize=None)
    m.logits(ids)                     # [len(ids), vocab], full forward, no cache
    m.generate(ids, 32, stop_ids=m.tokenizer.stop_ids)
    seq = m.sequence(prompt)          # owns a KV cache
    seq.extend(ids); seq.truncate(n); seq.fork(); seq.generate(...); seq.stream(...)
    seq.generate(..., lookahead=Lookahead())   # the same tokens in fewer forwards (model/lookahead.py)

Constrained decoding: `generate` and `stream` (on CWM and Sequence) take a keyword-only
`constraint`, an object with a method `allowed(generated) -> Sequence[int] | None`. Before each
step it is given the ids generated so far in this call (do not modify the list; it only grows,
except with a `lookahead` after a rejected draft, when it is cut back: then it is shorter than
the one before, or as long with another last id, and a hook that reads it incrementally starts
over) and answers the token ids the next token may be, or None for no restriction. The logits are
masked to those ids (`restrict_logits`) and decoding goes on as usual: greedy takes the best
allowed token, sampling draws from the distribution restricted to them (temperature and top-p
applied within it, the same seeded generator). An empty answer, or one whose logits are all
-inf, leaves that step unconstrained, so a constraint can never stall generation. With
`constraint=None` (the default) nothing changes. neurodebug/constrain.py builds one for
the SOURCE part of trace frames.

A Sequence keeps `ids` and a KV cache that holds the first `computed` of them. Tokens that
generation appended last (or that a truncate uncovered) may be pending: their keys are computed
with the next extend or generate, so no forward pass is spent on a token nobody asked about.
"""

from __future__ import annotations

import operator
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from neurodebug.model.attention import select_attention
from neurodebug.model.cache import KVCache
from neurodebug.model.checkpoint import load_transformer, loading_threads, resolve
from neurodebug.model.errors import ModelError
from neurodebug.model.generate import make_generator, restrict_logits, sample  # noqa: F401 - restrict_logits: re-exported
from neurodebug.model.model import Transformer, column_major_linears

DEFAULT_CHUNK = 512

#: on_choice(logits [V] or None, what the constraint allowed, token): see Sequence.generate.
OnChoice = Callable[[torch.Tensor | None, object, int], None]
CUDA_CHUNK = 2048


def load_model(path_or_repo_id, device="cpu", dtype=None, attention="auto", quantize=None,
               chunk_size: int | None = None, cuda_graphs: bool | None = None) -> "CWM":
    """Load a checkpoint directory or a repo id from the local Hugging Face cache.

    dtype: None (the checkpoint's, float32 on CPU when it names none), or float32/bfloat16/float16.
    attention: "auto" (Triton on CUDA when importable, else the PyTorch reference), "reference", "triton".
    quantize: None or "int8" (weight-only, per output channel).
    chunk_size: the longest piece a prompt is prefilled in; also the slack of sliding-window rings
    (None: 512 on a CPU, 2048 on CUDA, where benchmarks/gpu_check.py measures it).
    cuda_graphs: decode one token at a time by replaying a captured CUDA graph (see Sequence); None
    (default) uses them on CUDA with the Triton attention, the only place they run.
    """
    directory = resolve(path_or_repo_id)
    name, fn = select_attention(attention, device)
    model = load_transformer(directory, device=device, dtype=dtype, quantize=quantize)
    if model.norm.weight.device.type == "cpu":
        with loading_threads(model.config, "cpu"):
            column_major_linears(model)
    model.attention_fn = fn
    return CWM(model, directory, attention=name, chunk_size=chunk_size, cuda_graphs=cuda_graphs)


class CWM:
    def __init__(self, model: Transformer, directory: Path | None = None, attention: str = "reference",
                 chunk_size: int | None = None, cuda_graphs: bool | None = None):
        self.model = model
        self.config = model.config
        self.directory = directory
        self.attention = attention
        self.device = model.norm.weight.device
        self.dtype = model.norm.weight.dtype
        self.chunk_size = chunk_size or (CUDA_CHUNK if self.device.type == "cuda" else DEFAULT_CHUNK)
        # One-token decode steps replay a CUDA graph (needs the Triton attention, which reads the
        # position from device memory); tensor_positions runs that same step eagerly (tests, CPU).
        # Measured on an H200 (gpu_check, CWM-32B shapes, 4k context): bf16 49.1 tok/s with graphs
        # against 29.8 eager, the same logits.
        can = self.device.type == "cuda" and attention == "triton"
        self.cuda_graphs = can and (cuda_graphs is None or bool(cuda_graphs))
        self.tensor_positions = False
        self._tokenizer = None

    @property
    def tokenizer(self):
        """The checkpoint's tokenizer (tokenizer.model or tokenizer.json), else Llama 3's + CWM's specials."""
        if self._tokenizer is None:
            try:
                from neurodebug.model.tokenizer import llama3_tokenizer, load_tokenizer
            except ImportError as e:
                raise ModelError(f"The tokenizer module cannot be imported ({e}).") from None
            d = self.directory
            if d is not None and ((d / "tokenizer.model").is_file() or (d / "tokenizer.json").is_file()):
                self._tokenizer = load_tokenizer(d)
            else:
                self._tokenizer = llama3_tokenizer()
        return self._tokenizer

    @torch.inference_mode()
    def logits(self, ids: Iterable[int]) -> torch.Tensor:
        """Float32 logits [len(ids), vocab] of one full forward pass without a cache."""
        idx = self._tensor(list(ids))
        if idx.shape[1] == 0:
            return torch.empty(0, self.config.vocab_size)
        return self.model(idx)[0].float()

    def sequence(self, ids: Iterable[int] = ()) -> "Sequence":
        return Sequence(self, ids)

    def generate(self, ids, max_new_tokens: int, stop_ids=(), temperature: float = 0.0, top_p: float = 1.0,
                 seed: int | None = None, on_token: Callable[[int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, *, constraint=None, lookahead=None) -> list[int]:
        """The new tokens (a stop token included) after prompt `ids` (`constraint`: see the module
        docstring; `lookahead`: see Sequence.generate)."""
        return self.sequence(ids).generate(max_new_tokens, stop_ids, temperature, top_p, seed, on_token, should_stop,
                                           constraint=constraint, lookahead=lookahead)

    def weight_bytes(self) -> int:
        seen, total = set(), 0
        for name, t in list(self.model.named_parameters()) + list(self.model.named_buffers()):
            if name == "inv_freq" or t.data_ptr() in seen:
                continue
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
        return total

    def _tensor(self, ids: list[int]) -> torch.Tensor:
        return torch.tensor([self._check(ids)], dtype=torch.long, device=self.device)

    def _check(self, ids) -> list[int]:
        """ids as Python ints (numpy and torch integers accepted), each inside the vocabulary."""
        V = self.config.vocab_size
        out = []
        for t in ids:
            try:
                i = operator.index(t)
            except TypeError:
                raise ModelError(f"Token id {t!r} is not an integer.") from None
            if not 0 <= i < V:
                raise ModelError(f"Token id {t!r} is outside this model's vocabulary of {V}.")
            out.append(i)
        return out


class Sequence:
    """Token ids plus the KV cache of one sequence."""

    def __init__(self, runtime: CWM, ids: Iterable[int] = ()):
        self.runtime = runtime
        self.ids: list[int] = []
        self.computed = 0  # ids[:computed] have their keys and values in the caches
        self.forwards = 0  # forward passes run for this sequence (a cost counter)
        self.tokens_run = 0  # positions those passes computed (drafts rejected afterwards included)
        self._last: torch.Tensor | None = None  # logits after ids[computed-1], when known
        self._graph: _DecodeGraph | None = None
        self._eager = False  # never capture a CUDA graph (a short-lived beam hypothesis)
        self.caches = self._fresh_caches()
        ids = list(ids)
        if ids:
            self.extend(ids, logits="none")

    def _fresh_caches(self) -> list[KVCache]:
        rt, c = self.runtime, self.runtime.config
        with torch.inference_mode():
            return [
                KVCache(c.n_kv_heads, c.head_dim, None if c.window(i) is None else c.window(i) + rt.chunk_size,
                        rt.dtype, rt.device)
                for i in range(c.n_layers)
            ]

    def __len__(self) -> int:
        return len(self.ids)

    @torch.inference_mode()
    def extend(self, ids: Iterable[int] = (), logits: str = "all"):
        """Append ids and compute them (and any pending tokens), in chunks.

        logits="all": float32 logits [len(ids), vocab] of the new positions; "argmax": the most likely
        next token after each new position, [len(ids)] (teacher forcing without holding all logits);
        "last": [vocab] after the last token; "none": None; "from_last": [1 + len(ids), vocab], the
        logits after the token before ids, then after each of ids (a speculative verify step: one
        forward scores a whole draft).
        """
        if logits not in ("all", "argmax", "last", "none", "from_last"):
            raise ValueError(f"logits must be all, argmax, last, none or from_last, not {logits!r}")
        rt = self.runtime
        new = rt._check(ids)
        if logits == "from_last" and self.ids and self.computed == len(self.ids) and self._last is None:
            self._uncompute_last()  # its logits are needed and not known: compute it again
        self.ids += new
        start = self.computed
        todo = self.ids[start:]
        n_pending = len(todo) - len(new)
        # the first row wanted; -1: the row after the last computed token (self._last)
        first = n_pending - 1 if logits == "from_last" else n_pending
        if not todo:
            if logits in ("all", "argmax"):
                return torch.empty((0, rt.config.vocab_size) if logits == "all" else (0,),
                                   dtype=torch.float32 if logits == "all" else torch.long)
            if logits == "from_last":
                return self._last[None] if self._last is not None else torch.empty(0, rt.config.vocab_size)
            return self._last if logits == "last" else None
        if len(todo) == 1 and logits == "last" and (rt.cuda_graphs or rt.tensor_positions):
            self._last = self._decode_step(todo[0], start)
            self.computed = start + 1
            return self._last
        outs = [self._last[None]] if first < 0 else []
        per_row = logits in ("all", "argmax", "from_last")
        for off in range(0, len(todo), rt.chunk_size):
            chunk = todo[off : off + rt.chunk_size]
            pos = start + off
            for cache in self.caches:
                cache.reserve(pos + len(chunk))
            final = off + len(chunk) == len(todo)
            mode = "all" if per_row and off + len(chunk) > first else "last" if final else "none"
            idx = torch.tensor([chunk], dtype=torch.long, device=rt.device)
            h = rt.model(idx, self.caches, pos, logits=mode)
            self.forwards += 1
            self.tokens_run += len(chunk)
            self.computed = pos + len(chunk)
            if mode == "all":
                rows = h[0, max(0, first - off) :]
                outs.append(rows.argmax(-1).cpu() if logits == "argmax" else rows.float())
            if final:
                self._last = h[0, -1].float()
        if per_row:
            return torch.cat(outs)
        return self._last if logits == "last" else None

    def _decode_step(self, tok: int, pos: int) -> torch.Tensor:
        """Logits [vocab] after token `tok` at position `pos`, with the position held in a device
        tensor: by replaying this sequence's CUDA graph (captured at the first step, again when a
        cache buffer moves), or eagerly with tensor_positions."""
        rt = self.runtime
        for cache in self.caches:
            cache.reserve(pos + 1)
        if not rt.cuda_graphs or self._eager:
            idx = torch.tensor([[tok]], dtype=torch.long, device=rt.device)
            at = torch.tensor([pos], dtype=torch.long, device=rt.device)
            out = rt.model(idx, self.caches, at, logits="last")
        else:
            g = self._graph
            if g is None or not g.fits(self.caches):
                # Room ahead, so that the buffers (whose addresses the graph holds) stay put for a while.
                for cache in self.caches:
                    cache.reserve(pos + 1 + GRAPH_HEADROOM)
                g, out = _DecodeGraph.capture(rt.model, self.caches, tok, pos)
                self._graph = g
                if g is None:
                    rt.cuda_graphs = False
            else:
                out = g.replay(tok, pos)
        self.forwards += 1
        self.tokens_run += 1
        for cache in self.caches:
            cache.high_water = max(cache.high_water, pos)
        # A copy: a replayed graph's output buffer is overwritten by the next replay.
        return out[0, -1].to(torch.float32, copy=True)

    def truncate(self, n: int, last_logits: torch.Tensor | None = None) -> None:
        """Cut the sequence back to its first n tokens.

        ``last_logits``: the logits after token n-1 when the caller has them (a speculative verify
        step computed the tokens past n too): the first n tokens then stay computed, nothing is
        recomputed, and the keys past n are overwritten by the next forward.

        Global layers keep everything, so only sliding-window rings can lose keys: when the ring
        still holds the window before position n-1 this is free (the last kept token is recomputed
        on the next call, to get its logits). Otherwise the keys are gone, and the sequence is
        re-prefilled from the start on the next extend or generate: correct, at the cost of n tokens.
        """
        if not 0 <= n <= len(self.ids):
            raise ValueError(f"Cannot truncate a sequence of {len(self.ids)} tokens to {n}.")
        if n == len(self.ids):
            return
        del self.ids[n:]
        if n >= self.computed:
            return
        if last_logits is not None and n > 0 and self._keeps(n):
            self.computed, self._last = n, last_logits
            return
        self._last = None
        self.computed = n
        self._uncompute_last()

    def _keeps(self, n: int) -> bool:
        """Whether every cache still holds the keys a query at position n sees."""
        config = self.runtime.config
        return all(c.keeps(n, config.window(i) or 0) for i, c in enumerate(self.caches))

    def _uncompute_last(self) -> None:
        """Mark the last computed token pending again (its logits are then recomputed), or, when a
        ring has lost the keys it needs, every token (a re-prefill from the start)."""
        self._last = None
        target = max(self.computed - 1, 0)
        if self._keeps(target):
            self.computed = target
        else:
            self.caches = self._fresh_caches()
            self.computed = 0

    def fork(self) -> "Sequence":
        """An independent copy (caches cloned): try a branch, keep the original."""
        s = Sequence.__new__(Sequence)
        s.runtime, s.ids, s.computed = self.runtime, list(self.ids), self.computed
        s.forwards = s.tokens_run = 0
        s._last = self._last
        s._graph = None  # a fork's caches are new buffers: it captures its own graph
        s._eager = self._eager
        with torch.inference_mode():
            s.caches = [c.clone() for c in self.caches]
        return s

    def generate(self, max_new_tokens: int, stop_ids=(), temperature: float = 0.0, top_p: float = 1.0,
                 seed: int | None = None, on_token: Callable[[int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, *, constraint=None,
                 on_logits: Callable[[torch.Tensor, int], None] | None = None, lookahead=None,
                 on_choice: OnChoice | None = None) -> list[int]:
        """Generate up to max_new_tokens, appending them (a stop token included) to this sequence.

        on_token(id) is called as each token comes; should_stop() is asked before each step and
        ends generation early (the sequence stays consistent). constraint: restricts each step's
        choice (see the module docstring); None decodes freely. on_logits(logits, id): each step's
        float logits [V] as the model gave them (before any constraint) and the token chosen.
        lookahead: a ``model.lookahead.Lookahead`` (jump-forward of forced tokens, prompt-lookup
        drafts): the same greedy tokens in fewer forwards; None (default) runs one forward per
        token. Not with on_logits (a forced token has no forward of its own). on_choice(logits,
        allowed, id): for each token in order, the logits [V] it was chosen from (None for a token
        the constraint forced without a forward) and what the constraint allowed there: what
        ``generate.choice_logprob`` turns into the probability decoding gave it (confidence,
        from logits computed anyway, with or without a lookahead).
        """
        out = []
        for tok in self.stream(max_new_tokens, stop_ids, temperature, top_p, seed, should_stop, constraint=constraint,
                               on_logits=on_logits, lookahead=lookahead, on_choice=on_choice):
            out.append(tok)
            if on_token is not None:
                on_token(tok)
        return out

    def beam(self, width: int, max_new_tokens: int, stop_ids=(), should_stop: Callable[[], bool] | None = None, *,
             constraint: Callable[[], object] | None = None, logprobs: list[float] | None = None) -> list[int]:
        """The most likely continuation up to a stop token (included), by beam search of ``width``
        hypotheses, appended to this sequence and returned: greedy decoding looks one token ahead,
        this keeps the ``width`` best prefixes by total log-probability and ends when the best
        finished one is at least as likely as every prefix still open (a prefix only loses
        probability as it grows: the open ones less likely are dropped), or at ``max_new_tokens``.

        ``constraint``: a factory of constraint hooks (see the module docstring); each hypothesis
        gets its own. Each hypothesis holds its own KV cache (a fork of this one); the winner's
        becomes this sequence's. ``should_stop`` ends the search early, keeping the best so far.
        ``logprobs``: a list to which the winner's token log-probabilities (under the constraint,
        what its score sums) are appended.
        """
        if not self.ids:
            raise ModelError("Generation needs at least one prompt token.")
        width = max(1, int(width))
        stop = set(stop_ids)
        with torch.inference_mode():
            if not (self.computed == len(self.ids) and self._last is not None):
                self.extend((), logits="last")
        first = self.fork()
        first._eager = True  # hypotheses come and go every step: a CUDA graph each would cost more than it saves
        live = [_Hyp(0.0, [], first, constraint() if constraint is not None else None)]
        done: list[_Hyp] = []
        for _ in range(max_new_tokens):
            if should_stop is not None and should_stop():
                break
            cands = []
            with torch.inference_mode():
                for h in live:
                    before = h.seq.forwards, h.seq.tokens_run
                    logits = h.seq._last if h.seq.computed == len(h.seq.ids) and h.seq._last is not None \
                        else h.seq.extend((), logits="last")
                    self.forwards += h.seq.forwards - before[0]
                    self.tokens_run += h.seq.tokens_run - before[1]
                    if h.hook is not None:
                        logits = restrict_logits(logits, h.hook.allowed(h.toks))
                    logp = torch.log_softmax(logits.float(), dim=-1)
                    top = torch.topk(logp, min(width, logp.numel()))
                    for lp, tok in zip(top.values.tolist(), top.indices.tolist()):
                        if lp != float("-inf"):
                            cands.append((h.score + lp, h, tok, lp))
            cands.sort(key=lambda c: -c[0])
            chosen = cands[:width]
            taken: set[int] = set()
            seqs = []
            for _score, h, _tok, _lp in chosen:  # fork before any hypothesis takes over its parent's cache
                if id(h) in taken:
                    seqs.append((h.seq.fork(), None))
                else:
                    taken.add(id(h))
                    seqs.append((None, h.hook))
            nxt = []
            for (score, h, tok, lp), (forked, hook) in zip(chosen, seqs):
                seq = forked if forked is not None else h.seq
                if forked is not None and constraint is not None:
                    hook = constraint()
                seq.ids.append(tok)  # pending until computed
                seq._last = None
                hyp = _Hyp(score, h.toks + [tok], seq, hook, h.lps + [lp])
                (done if tok in stop else nxt).append(hyp)
            if done:  # an open prefix less likely than a finished frame can never win
                best_done = max(d.score for d in done)
                nxt = [h for h in nxt if h.score > best_done]
            live = nxt
            if not live:
                break
        pool = done or live
        if not pool:
            return []
        best = max(pool, key=lambda h: h.score)
        # this sequence becomes the winner's (its cache already holds the new tokens)
        self.ids = best.seq.ids
        self.caches, self.computed, self._last = best.seq.caches, best.seq.computed, best.seq._last
        self._graph = None  # new cache buffers
        if logprobs is not None:
            logprobs.extend(best.lps)
        return list(best.toks)

    def stream(self, max_new_tokens: int, stop_ids=(), temperature: float = 0.0, top_p: float = 1.0,
               seed: int | None = None, should_stop: Callable[[], bool] | None = None, *,
               constraint=None, on_logits: Callable[[torch.Tensor, int], None] | None = None,
               lookahead=None, on_choice: OnChoice | None = None) -> Iterator[int]:
        """Like generate, as an iterator: each token is appended to the sequence as it is yielded."""
        if not self.ids:
            raise ModelError("Generation needs at least one prompt token.")
        stop = set(stop_ids)
        gen = make_generator(seed, self.runtime.device)
        if lookahead is not None and on_logits is None:
            from neurodebug.model.lookahead import stream

            yield from stream(self, max_new_tokens, stop, temperature, top_p, gen, should_stop, constraint, lookahead,
                              on_choice)
            return
        new: list[int] = []  # what the constraint is shown: this call's tokens so far
        for _ in range(max_new_tokens):
            if should_stop is not None and should_stop():
                return
            with torch.inference_mode():
                logits = self._last if self.computed == len(self.ids) and self._last is not None \
                    else self.extend((), logits="last")
                raw, allowed = logits, None
                if constraint is not None:
                    allowed = constraint.allowed(new)
                    logits = restrict_logits(logits, allowed)
                tok = sample(logits, temperature, top_p, gen)
                if on_logits is not None:
                    on_logits(raw, tok)
                if on_choice is not None:
                    on_choice(raw, allowed, tok)
            self.ids.append(tok)  # pending until the next step computes it
            self._last = None
            new.append(tok)
            yield tok
            if tok in stop:
                return


@dataclass
class _Hyp:
    """One hypothesis of :meth:`Sequence.beam`: its log-probability, tokens, cache, hook, and
    each token's log-probability (what the score sums)."""

    score: float
    toks: list
    seq: "Sequence"
    hook: object = None
    lps: list = field(default_factory=list)


#: Cache positions reserved past the current one when a decode graph is captured (global caches
#: grow by reallocation, and a graph holds the buffers' addresses).
GRAPH_HEADROOM = 1024


class _DecodeGraph:
    """A captured one-token decode step of the model on one set of cache buffers."""

    def __init__(self, graph, idx, pos, out, buffers):
        self.graph, self.idx, self.pos, self.out, self.buffers = graph, idx, pos, out, buffers

    @staticmethod
    def _buffers(caches) -> tuple:
        return tuple((c.k.data_ptr(), c.v.data_ptr(), c.size) for c in caches)

    def fits(self, caches) -> bool:
        return self._buffers(caches) == self.buffers

    @classmethod
    def capture(cls, model, caches, tok: int, pos: int):
        """Run the step for (tok, pos) once on a side stream (this also compiles and autotunes the
        kernels, outside the capture), then capture it. Returns (graph, that step's logits)."""
        device = caches[0].k.device
        idx = torch.full((1, 1), tok, dtype=torch.long, device=device)
        at = torch.full((1,), pos, dtype=torch.long, device=device)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            first = model(idx, caches, at, logits="last")
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            # thread_local: a server thread using CUDA meanwhile does not spoil this capture.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                out = model(idx, caches, at, logits="last")
        except Exception as e:  # noqa: BLE001 - decode on eagerly rather than fail the user's request
            warnings.warn(f"CUDA graph capture failed ({type(e).__name__}: {e}); decoding without graphs.")
            return None, first
        return cls(graph, idx, at, out, cls._buffers(caches)), first

    def replay(self, tok: int, pos: int) -> torch.Tensor:
        self.idx.fill_(tok)
        self.pos.fill_(pos)
        self.graph.replay()
        return self.out

"""Fewer forward passes per generated token, with the same tokens: jump-forward and prompt lookup.

A step of one token costs a small model on a CPU about as much as a step of sixteen (per-forward
overhead), and a large one on a GPU about as much too (reading the weights). Two sources of
tokens need not be asked for one forward at a time:

* **Forced tokens** (jump-forward). Where the constraint allows exactly one token, that token is
  what decoding chooses (greedy takes the best allowed token; sampling draws from the
  distribution restricted to it), so it is appended without asking the model, and a run of them
  is computed in the same forward as the next position the model decides. (Exact for finite
  logits: with a one-token answer whose logit is not finite, ``restrict_logits`` would have let
  the step go free.)
* **Prompt-lookup drafts** (speculative decoding with the sequence itself as the draft model).
  The longest suffix of the sequence (``max_ngram`` tokens down to ``min_ngram``) that occurred
  earlier proposes the tokens that followed it then (its most recent occurrence); a trace repeats
  itself (the same keys, values carried from frame to frame, the same lines). One forward scores
  the whole draft; the longest prefix the model agrees with is kept and the KV cache is cut back
  past the rest (``Sequence.truncate`` with the verify step's logits: nothing is recomputed).
  Greedy: a draft token is kept when it is the best allowed token at its position, so the output
  is the one-token-at-a-time output token for token. Sampling: the draft is a point mass on its
  token x, so the speculative-sampling rule (Leviathan et al. 2023, Chen et al. 2023) keeps x with
  probability p(x), p being the distribution ``sample`` draws from (constraint, temperature and
  top-p applied), and otherwise draws from p without x, renormalised: the tokens keep the model's
  distribution. (The draws differ from the one-token loop's for the same seed; the distribution
  does not.)

One round of :func:`stream` builds a *chain* of positions ahead: each one forced, or drafted (the
lookup's next token, when the constraint allows it), until a position is free (nothing to
propose), the draft budget is spent, a stop token is chained, or the token budget is reached.
Then one forward (none when the chain ends in a stop token with nothing drafted), acceptance
from left to right, and the first free or rejected position decided from the same forward's
logits. The constraint is asked once per position, with this call's tokens so far including the
chained ones; after a rejection it is asked with a shorter list, which a constraint must take as
"start over from these" (``neurodebug``'s ``FrameConstraint`` does).

Over HTTP the server runs the model: there :func:`forced_run` puts a run of forced tokens into the
next request's prompt (the server's prefix cache makes that cheap), and vLLM's own n-gram
speculation is a server option (see the README).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Lookahead:
    """What a generation may do to save forwards (see the module docstring).

    ``jump_forward``: append forced tokens without asking the model. ``draft``: the most tokens
    drafted by prompt lookup per forward (0: none). ``max_ngram`` / ``min_ngram``: the longest
    and shortest suffix looked up. ``adapt``: after a rejected draft the next one is at most
    twice the kept part (at least ``MIN_DRAFT``), after a draft kept whole twice as long as it
    (up to ``draft``): a rejected token costs compute for nothing."""

    jump_forward: bool = True
    draft: int = 24
    max_ngram: int = 12
    min_ngram: int = 1
    adapt: bool = True


#: Earlier occurrences of a suffix tried (most recent first) for one whose next token is allowed.
MAX_OCCURRENCES = 8

#: The shortest draft length ``adapt`` goes down to.
MIN_DRAFT = 4

#: What the local backend uses unless told otherwise.
DEFAULT = Lookahead()


class PromptLookup:
    """Draft tokens from the sequence itself: what followed the longest earlier match of its suffix.

    Tokens are kept as 4-byte words in a bytearray, so a suffix is looked up with ``rfind`` (a
    hit that is not word-aligned is skipped). ``push``/``cut`` follow the tokens as they come and
    go; ``propose`` is the next draft token (None without a match), continuing the match of the
    previous call while the tokens pushed since agree with it."""

    def __init__(self, ids: Sequence[int], max_ngram: int = 12, min_ngram: int = 1):
        self.max_ngram, self.min_ngram = max(1, max_ngram), max(1, min_ngram)
        self._buf = bytearray()
        self._src: int | None = None  # index of the token the current match predicts next
        for t in ids:
            self._buf += _word(t)

    def __len__(self) -> int:
        return len(self._buf) // 4

    def token(self, i: int) -> int:
        return int.from_bytes(self._buf[4 * i : 4 * i + 4], "little")

    def push(self, t: int) -> None:
        """Append token t; a match that predicted t goes on, any other is dropped."""
        if self._src is not None and self._src < len(self) and self.token(self._src) == t:
            self._src += 1
        else:
            self._src = None
        self._buf += _word(t)

    def cut(self, n: int) -> None:
        """Back to the first n tokens (a rejected draft)."""
        del self._buf[4 * n :]
        self._src = None

    def propose(self, ok: Callable[[int], bool] | None = None) -> int | None:
        """The token that followed the most recent earlier occurrence of the longest suffix (among
        the occurrences whose next token ``ok`` accepts: what the constraint allows there)."""
        n = len(self)
        if self._src is None or self._src >= n or (ok is not None and not ok(self.token(self._src))):
            self._src = self._match(ok)
        return self.token(self._src) if self._src is not None else None

    def _match(self, ok) -> int | None:
        n, buf = len(self), self._buf
        for k in range(min(self.max_ngram, n - 1), self.min_ngram - 1, -1):
            pattern = bytes(buf[4 * (n - k) :])
            end = 4 * (n - 1)  # an occurrence must end before the last token (it needs a successor)
            tries = 0
            at = buf.rfind(pattern, 0, end)
            while at >= 0 and tries < MAX_OCCURRENCES:
                if at % 4 == 0:
                    tries += 1
                    if ok is None or ok(self.token(at // 4 + k)):
                        return at // 4 + k
                at = buf.rfind(pattern, 0, at + len(pattern) - 1)
        return None


def _word(t: int) -> bytes:
    return int(t).to_bytes(4, "little")


def forced_run(constraint, generated: list[int], stop: set, limit: int) -> list[int]:
    """The tokens the constraint forces after ``generated`` (each the only one it allows), up to
    a stop token (included) or ``limit`` tokens; ``generated`` is not changed."""
    run: list[int] = []
    if constraint is None:
        return run
    while len(run) < limit:
        only = _only(constraint.allowed(generated + run))
        if only is None:
            break
        run.append(only)
        if only in stop:
            break
    return run


def _only(allowed) -> int | None:
    if allowed is not None and len(allowed) == 1:
        return int(next(iter(allowed)))
    return None


class _Sets:
    """Membership in a constraint's answers: a constraint answers from a few cached tuples, so
    each answer's set is built once (keyed by identity, the answer kept alive with it)."""

    def __init__(self):
        self._sets: dict[int, tuple[object, frozenset]] = {}

    def has(self, allowed, t: int) -> bool:
        if allowed is None or len(allowed) == 0:
            return True
        hit = self._sets.get(id(allowed))
        if hit is None or hit[0] is not allowed:
            if len(self._sets) > 256:
                self._sets.clear()
            hit = self._sets[id(allowed)] = (allowed, frozenset(allowed))
        return t in hit[1]


@dataclass
class _Link:
    """One position of a chain: its token, whether it is certain (forced by the constraint, or a
    draft already checked) or still a draft to verify, and what the constraint allowed there."""

    token: int
    certain: bool
    allowed: object
    drafted: bool = False  # proposed by prompt lookup (stays True once checked)
    row: object = None  # the logits it was checked against (None: forced, or not checked yet)


def stream(seq, max_new_tokens: int, stop_ids=(), temperature: float = 0.0, top_p: float = 1.0,
           generator=None, should_stop: Callable[[], bool] | None = None, constraint=None,
           lookahead: Lookahead = DEFAULT, on_choice=None) -> Iterator[int]:
    """``Sequence.stream`` with jump-forward and prompt lookup: the same tokens (greedy) or the
    same distribution (sampling), in fewer forwards. Each token is appended to ``seq`` as it is
    yielded; ``on_choice`` as ``Sequence.generate``'s: each token's logits come from the forward
    that checked or chose it (None for a forced token)."""
    stop = set(stop_ids)
    new: list[int] = []
    lookup = PromptLookup(seq.ids, lookahead.max_ngram, lookahead.min_ngram) if lookahead.draft > 0 else None
    decide = _Decide(temperature, top_p, generator)
    limit = lookahead.draft
    while len(new) < max_new_tokens:
        if should_stop is not None and should_stop():
            return
        chain, free_allowed = _chain(new, max_new_tokens, stop, constraint, limit, lookahead, lookup, decide.sets)
        out = _round(seq, chain, free_allowed, decide, lookup,
                     ended=bool(chain) and (chain[-1].token in stop or len(new) + len(chain) >= max_new_tokens))
        if lookahead.adapt:
            limit = _next_limit(limit, chain, out, lookahead.draft)
        for t, (row, allowed) in zip(out, decide.whys):
            if on_choice is not None:
                on_choice(row, allowed, t)
            new.append(t)
            yield t
            if t in stop or len(new) >= max_new_tokens:
                return


def _round(seq, chain: list[_Link], free_allowed, decide: _Decide, lookup, ended: bool) -> list[int]:
    """Settle a chain with at most one forward; the tokens it gives (appended to ``seq``, the last
    one pending): the chain's kept prefix and the token decided after it (a rejected draft's
    replacement, or the free position's choice; none when the chain ``ended`` the generation)."""
    import torch

    base = len(seq.ids)
    decide.whys = [(link.row, link.allowed) for link in chain]
    if chain and not chain[0].certain and seq.computed == base and seq._last is not None:
        # the first draft is checked against logits already known: a wrong one costs no forward
        ok, alt = decide.verify(seq._last, chain[0])
        decide.whys[0] = (seq._last, chain[0].allowed)
        if not ok:
            return _commit(seq, lookup, base, [], alt, decide)
        chain[0].certain = True
    tokens = [link.token for link in chain]
    drafted = not all(link.certain for link in chain)
    if ended and not drafted:  # a run to the end with nothing left to check: no forward at all
        seq.runtime._check(tokens)
        seq.ids.extend(tokens)  # pending, as a generated token always is
        seq._last = None
        return tokens
    rows = _forward(seq, tokens, drafted)
    with torch.inference_mode():
        for j, link in enumerate(chain):
            if not link.certain:
                ok, alt = decide.verify(rows[j], link)
                decide.whys[j] = (rows[j], link.allowed)
                if not ok:
                    seq.truncate(base + j, last_logits=rows[j])
                    return _commit(seq, lookup, base + j, tokens[:j], alt, decide)
        choice = None if ended else decide.choose(rows[-1], free_allowed)
        decide.whys.append((rows[-1], free_allowed))
    return _commit(seq, lookup, None, tokens, choice, decide)


def _commit(seq, lookup, cut: int | None, kept: list[int], choice: int | None, decide: "_Decide") -> list[int]:
    """Append ``choice`` (pending) after the kept tokens, the lookup cut back to ``cut`` first;
    ``decide.whys`` is cut to what the tokens given were chosen from."""
    if lookup is not None and cut is not None:
        lookup.cut(cut)
    del decide.whys[len(kept) + (choice is not None):]
    if choice is None:
        return kept
    seq.ids.append(choice)  # pending until the next forward computes it
    seq._last = None
    if lookup is not None:
        lookup.push(choice)
    return kept + [choice]


class _Decide:
    """The decoding rule of one generation: greedy or sampling, and the draft acceptance rule."""

    def __init__(self, temperature: float, top_p: float, generator):
        self.temperature, self.top_p, self.generator = temperature, top_p, generator
        self.sets = _Sets()
        #: per token of the last round: (the logits it was chosen from or None, what was allowed)
        self.whys: list[tuple[object, object]] = []

    def choose(self, logits, allowed) -> int:
        """The token at a free position, as ``Sequence.stream`` decides it."""
        from neurodebug.model.generate import restrict_logits, sample

        return sample(restrict_logits(logits, allowed), self.temperature, self.top_p, self.generator)

    def verify(self, logits, link: _Link) -> tuple[bool, int]:
        """(kept, the token instead): whether a drafted token survives at its position, and if
        not, the token decoding puts there (see the module docstring)."""
        import torch
        from neurodebug.model.generate import probabilities, restrict_logits

        if self.temperature <= 0.0:
            best = self.choose(logits, link.allowed)
            return best == link.token, best
        p = probabilities(restrict_logits(logits, link.allowed), self.temperature, self.top_p)
        u = torch.rand((), generator=self.generator, device=p.device)
        if float(u) < float(p[link.token]):
            return True, link.token
        rest = p.clone()
        rest[link.token] = 0.0
        if not float(rest.sum()) > 0.0:  # p(x) rounds to 1: nothing else can be drawn
            return True, link.token
        return False, int(torch.multinomial(rest, 1, generator=self.generator))


def _forward(seq, tokens: list[int], drafted: bool):
    """Logits [len(tokens) + 1, V] when some are drafted (each is verified), else [1, V] after the
    last token: a forced run goes in the same forward as the next free position, and a lone free
    step takes ``extend``'s one-token path (a CUDA graph where the runtime has one)."""
    import torch

    with torch.inference_mode():
        if drafted:
            return seq.extend(tokens, logits="from_last")
        last = seq.extend(tokens, logits="last")
        return last[None] if last is not None else seq.extend((), logits="from_last")


def _next_limit(limit: int, chain: list["_Link"], out: list[int], most: int) -> int:
    """The next round's draft length (``Lookahead.adapt``) from what this round kept."""
    drafted = sum(link.drafted for link in chain)
    if not drafted:
        return limit
    kept = sum(link.drafted for link, t in zip(chain, out) if link.token == t)
    if kept == drafted:
        return min(most, 2 * max(limit, drafted)) if drafted >= limit else limit
    return max(MIN_DRAFT, 2 * kept)


def _chain(new, max_new_tokens, stop, constraint, limit, lookahead, lookup, sets):
    """The positions ahead this round can settle: ([_Link], what the constraint allows at the
    free position after them). Forced and drafted tokens are pushed to ``lookup`` as they are
    chained (the caller cuts it back after a rejection)."""
    chain: list[_Link] = []
    drafts = 0
    while len(new) + len(chain) < max_new_tokens:
        allowed = constraint.allowed(new + [link.token for link in chain]) if constraint is not None else None
        only = _only(allowed) if lookahead.jump_forward else None
        if only is not None:
            link = _Link(only, True, allowed)
        else:
            t = None
            if lookup is not None and drafts < limit:
                t = lookup.propose(None if allowed is None else (lambda tok: sets.has(allowed, tok)))
            if t is None:
                return chain, allowed
            link = _Link(t, False, allowed, drafted=True)
            drafts += 1
        chain.append(link)
        if lookup is not None:
            lookup.push(link.token)
        if link.token in stop:
            break
    return chain, None

"""Constrained decoding: a hook that limits each next token to what a frame of this file can say.

Lines of the file after ``<|action_sep|>``, local names of its functions as LOCALS keys in
well-formed JSON, ``".."`` only where the diff rule allows it, and the events and lines the
control flow allows (:mod:`.flow`). Each rule only rules out what cannot happen in a real trace;
docs/constraints.md explains each and how the next allowed ids are found without a pass over
the vocabulary.
"""

from __future__ import annotations

import ast
import bisect
import json
import weakref
from dataclasses import dataclass
from typing import Iterable, Sequence

from neurodebug.codec import Codec
from neurodebug.codec.parser import survived
from neurodebug.constrain.flow import traced_code as _traced_code
from neurodebug.trace.format import dump_json, source_lines, strip_marker
from neurodebug.trace.format import norm_line as _norm

#: The (text, end token) -> allowed ids cache of one SourceConstraint is cleared past this size.
MAX_CACHE = 50_000

# == Token bytes, once per tokenizer ===============================================================


@dataclass
class TokenTable:
    """The text tokens of one tokenizer by their bytes.

    ``bytes_of[i]`` is token i's bytes (None for special tokens and tokens whose bytes are
    unknown); ``ids_of`` maps bytes to the ids that decode to them; ``max_len`` is the longest.
    """

    bytes_of: list[bytes | None]
    ids_of: dict[bytes, tuple[int, ...]]
    max_len: int
    _sorted: list[bytes] | None = None
    _structure: dict | None = None  # _structure_sets, computed on first use
    _dots: dict | None = None  # _dots_sets, computed on first use

    @property
    def sorted_bytes(self) -> list[bytes]:
        """The distinct token bytes, sorted (for "tokens that start with" range queries)."""
        if self._sorted is None:
            self._sorted = sorted(self.ids_of)
        return self._sorted


_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_TABLES_BY_ID: dict[int, tuple[object, TokenTable]] = {}


def token_table(tokenizer) -> TokenTable:
    """The :class:`TokenTable` of ``tokenizer``, computed on first use and cached for its lifetime."""
    try:
        table = _TABLES.get(tokenizer)
    except TypeError:  # not weak-referenceable: keep it alive with its table
        hit = _TABLES_BY_ID.get(id(tokenizer))
        table = hit[1] if hit is not None and hit[0] is tokenizer else None
    if table is None:
        table = _build_table(tokenizer)
        try:
            _TABLES[tokenizer] = table
        except TypeError:
            _TABLES_BY_ID[id(tokenizer)] = (tokenizer, table)
    return table


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet (what Hugging Face's ByteLevel pre-tokenizer writes) -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _hf_byte_level(tokenizer):
    """A function id -> bytes for a Hugging Face byte-level BPE tokenizer, else None."""
    inner = getattr(tokenizer, "_tok", None)
    decoder = getattr(inner, "decoder", None)
    if inner is None or type(decoder).__name__ != "ByteLevel" or not hasattr(inner, "id_to_token"):
        return None
    table = _byte_decoder()

    def of(i: int) -> bytes | None:
        piece = inner.id_to_token(i)
        if piece is None or any(c not in table for c in piece):
            return None
        return bytes(table[c] for c in piece)

    return of


def _build_table(tokenizer) -> TokenTable:
    n = int(getattr(tokenizer, "vocab_size", 0) or 0)
    specials = set((getattr(tokenizer, "specials", None) or {}).values())
    decode_bytes = getattr(tokenizer, "decode_bytes", None)
    byte_level = None if decode_bytes is not None else _hf_byte_level(tokenizer)

    def from_text(i: int) -> bytes | None:
        text = tokenizer.decode([i])
        return None if "\ufffd" in text else text.encode("utf-8")

    if byte_level is not None:  # check the byte-level reading against decode on a sample
        for i in range(min(n, 512)):
            if i in specials:
                continue
            b, text = byte_level(i), tokenizer.decode([i])
            if b is not None and "\ufffd" not in text and b.decode("utf-8", "replace") != text:
                byte_level = None
                break
    one = (lambda i: decode_bytes([i])) if decode_bytes is not None else byte_level or from_text
    bytes_of: list[bytes | None] = [None] * n
    ids_of: dict[bytes, list[int]] = {}
    for i in range(n):
        if i in specials:
            continue
        try:
            b = one(i)
        except Exception:  # an id the tokenizer cannot decode alone
            b = None
        if b:
            bytes_of[i] = b
            ids_of.setdefault(b, []).append(i)
    return TokenTable(bytes_of, {b: tuple(v) for b, v in ids_of.items()}, max(map(len, ids_of), default=0))


# == Which lines a frame can name ================================================================



def nameable_lines(source: str) -> list[int]:
    """Line numbers (1-based, ascending) that a frame of a trace of ``source`` can name."""
    lines = source_lines(source)
    n = len(lines)
    found: set[int] = set()
    codes = _traced_code(source)
    try:
        tree = ast.parse(source) if codes is not None else None
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        tree = None
    if tree is None:
        return [i for i, ln in enumerate(lines, 1) if _norm(ln).strip()]
    for c in codes:
        found.add(c.co_firstlineno)
        found.update(ln for _, _, ln in c.co_lines() if ln is not None)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.update(range(min([node.lineno] + [d.lineno for d in node.decorator_list]), node.lineno + 1))
    return sorted(ln for ln in found if 1 <= ln <= n and _norm(lines[ln - 1]).strip())


def allowed_sources(source: str, context: str | None = None, lines: Iterable[int] | None = None) -> list[str]:
    """The SOURCE strings a constrained frame may write (see the module docstring), sorted.

    ``context`` is the source as the prompt shows it (with the START_OF_TRACE marker on the
    entry's def line); ``lines`` overrides :func:`nameable_lines`.
    """
    src_lines = source_lines(source)
    ctx_lines = source_lines(context) if context is not None else src_lines
    if len(ctx_lines) != len(src_lines):
        ctx_lines = src_lines
    out: set[str] = set()
    for n in nameable_lines(source) if lines is None else lines:
        if not 1 <= n <= len(src_lines):
            continue
        raw, ctx = src_lines[n - 1], ctx_lines[n - 1]
        base = strip_marker(raw.rstrip("\r\n"))
        forms = {base, base.rstrip()}
        if ctx != raw:  # the entry's def line, as the context shows it
            forms.add(ctx.rstrip("\r\n"))
        key = _norm(raw)
        for f in forms:
            if _norm(f) != key or not key.strip():  # never a string the parser reads otherwise
                continue
            out.add(f)
            out.add(f + "\n")
    return sorted(out)


# == Which names a frame's LOCALS can hold ======================================================


#: Flags of a code object whose locals are fast locals (a function, not a class body).
_CO_OPTIMIZED = 0x0001


def local_names(source: str) -> tuple[list[str], bool] | None:
    """(names, empty_ok): the names a LOCALS key of a trace of ``source`` can be, sorted, and
    whether an empty LOCALS (``{}``) can occur; None when the source does not compile.

    The names are the locals of every code object of the file that gets frames (the scopes
    :func:`nameable_lines` takes lines from: not module level, comprehensions or lambdas):
    ``co_varnames`` (parameters and assigned names), ``co_cellvars`` and ``co_freevars``; for a
    class body, which keeps its names in a dict, ``co_names`` and ``__module__``/``__qualname__``.
    ``{}`` is possible where a scope has no parameters."""
    codes = _traced_code(source)
    if codes is None:
        return None
    names: set[str] = set()
    empty_ok = False
    for c in codes:
        names.update(c.co_varnames, c.co_cellvars, c.co_freevars)
        if not c.co_flags & _CO_OPTIMIZED:  # a class body
            names.update(c.co_names)
            names.update(("__module__", "__qualname__"))
        n_params = c.co_argcount + c.co_kwonlyargcount + bool(c.co_flags & 0x04) + bool(c.co_flags & 0x08)
        if n_params == 0:
            empty_ok = True
    return sorted(names), empty_ok


def key_strings(names: Iterable[str], empty_ok: bool) -> dict[str, list[str]]:
    """The text a constrained LOCALS may have from the start of a key region up to and including
    the key's closing quote, per region: "open" runs from the start of LOCALS (``{"name"``, and
    ``{}`` when ``empty_ok``), "next" from just after a ``,`` between entries (``"name"`` and
    `` "name"``). A name is written as JSON writes it (``codec.dump_json``: non-ASCII escaped)."""
    quoted = [dump_json(str(n)) for n in names]
    return {
        "open": ["{" + q for q in quoted] + (["{}"] if empty_ok else []),
        "next": [q for q in quoted] + [" " + q for q in quoted],
    }


# == The constraint =================================================================================


class _Prefixes:
    """Sorted allowed byte strings and the token ids that keep a text a prefix of one of them.

    ``open_tail``: a token may also run past the end of an allowed string (the string is then
    finished), when ``tail_ok`` (if given) accepts the string and what the token has after it."""

    def __init__(self, strings: Iterable[str], table: TokenTable, open_tail: bool = False, tail_ok=None):
        self.table = table
        self.open_tail = open_tail
        self.tail_ok = tail_ok
        self._spell: dict[bytes, list[bool]] = {}
        kept = []
        for s in strings:
            b = s.encode("utf-8")
            ok = _spellable(b, table)
            if ok[0] or (open_tail and b):  # the tokenizer can write it
                kept.append(b)
                self._spell[b] = ok
        self.strings: list[bytes] = sorted(set(kept))
        self._cache: dict[tuple[bytes, int | None, frozenset], tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.strings)

    def has(self, b: bytes) -> bool:
        i = bisect.bisect_left(self.strings, b)
        return i < len(self.strings) and self.strings[i] == b

    def next_ids(self, text: bytes, end_id: int | None = None, exclude: frozenset = frozenset()) -> tuple[int, ...]:
        """Ids allowed after ``text``: tokens that keep it a prefix of an allowed string (not
        one of ``exclude``) that can still be finished, ``end_id`` (if given) when it is one,
        and with ``open_tail`` the tokens that finish one and go on. Empty when ``text`` is a
        prefix of none."""
        key = (text, end_id, exclude)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        strings, ids_of, max_len = self.strings, self.table.ids_of, self.table.max_len
        m = len(text)
        out: set[int] = set()
        i = bisect.bisect_left(strings, text)
        while i < len(strings) and strings[i].startswith(text):
            s = strings[i]
            if s in exclude:
                pass
            elif len(s) == m:
                if end_id is not None:
                    out.add(end_id)
            else:
                spell = self._spell[s]
                for k in range(m + 1, min(len(s), m + max_len) + 1):
                    if spell[k]:
                        ids = ids_of.get(s[m:k])
                        if ids:
                            out.update(ids)
                if self.open_tail:  # tokens that hold the whole rest and more
                    rest = s[m:]
                    toks = self.table.sorted_bytes
                    j = bisect.bisect_right(toks, rest)
                    while j < len(toks) and toks[j].startswith(rest):
                        if self.tail_ok is None or self.tail_ok(s, toks[j][len(rest):]):
                            out.update(ids_of[toks[j]])
                        j += 1
            i += 1
        result = tuple(sorted(out))
        if result:
            if len(self._cache) >= MAX_CACHE:
                self._cache.clear()
            self._cache[key] = result
        return result


class SourceConstraint:
    """The allowed SOURCE strings (and LOCALS keys) of one source file, for one codec (tokenizer);
    see the module docstring. Build once per file; :meth:`for_frame` gives the hook of one
    generation call.

    ``constrain_source``: constrain SOURCE (default). ``constrain_locals``: constrain the keys
    of LOCALS on call/line frames to :func:`local_names` (``names`` overrides them; with
    ``names`` the empty object ``{}`` is always allowed)."""

    def __init__(self, codec: Codec, source: str, entry: str | None = None, lines: Iterable[int] | None = None,
                 *, constrain_source: bool = True, constrain_locals: bool = False,
                 names: Iterable[str] | None = None):
        self.codec = codec
        self.table = token_table(codec.tokenizer)
        self.constrain_source = bool(constrain_source)
        context = codec.context(source, entry)
        self._source, self._context = source, context
        self._lines = None if lines is None else frozenset(lines)
        self._src = _Prefixes(allowed_sources(source, context, lines) if self.constrain_source else [], self.table)
        self._by_lines: dict[frozenset, _Prefixes | None] = {}
        self._strings = self._src.strings
        self.allowed_sources: list[str] = [b.decode("utf-8") for b in self._strings]
        self._ends = {"call": codec.frame_sep_id, "line": codec.frame_sep_id,
                      "return": codec.arg_sep_id, "exception": codec.arg_sep_id}
        self.local_names: list[str] | None = None
        self._keys: dict[str, _Prefixes] = {}
        self._key_cache: dict = {}
        if constrain_locals:
            found = (sorted(set(map(str, names))), True) if names is not None else local_names(source)
            if found is not None and found[0]:
                self.local_names = found[0]
                self._keys = {kind: _Prefixes(strings, self.table, open_tail=True, tail_ok=_json_goes_on)
                              for kind, strings in key_strings(*found).items()}
                if not all(self._keys.values()):  # the tokenizer cannot write them: leave keys free
                    self.local_names, self._keys = None, {}

    @property
    def constrains_locals(self) -> bool:
        """True when LOCALS keys are constrained (asked for, and the file has names to allow)."""
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._strings)

    def allows(self, text: str) -> bool:
        """True when ``text`` is exactly an allowed SOURCE."""
        return self._src.has(text.encode("utf-8"))

    def allows_key(self, name: str) -> bool:
        """True when ``name`` is an allowed LOCALS key (always when keys are not constrained)."""
        return self.local_names is None or name in self.local_names

    def end_id(self, event: str) -> int:
        """The token that ends SOURCE on a frame of this event."""
        return self._ends.get(event, self.codec.frame_sep_id)

    def next_ids(self, text: bytes, end_id: int, lines: frozenset | None = None) -> tuple[int, ...]:
        """Ids allowed after SOURCE bytes ``text``: tokens that keep it a prefix of an allowed
        SOURCE that can still be finished, and ``end_id`` when it is one. Empty when ``text``
        is a prefix of none. ``lines`` (the flow's lines for this frame) narrows the allowed
        SOURCEs to those lines' strings, unless none of them can be written."""
        p = self._src if lines is None else (self._narrowed(lines) or self._src)
        return p.next_ids(text, end_id)

    def _narrowed(self, lines: frozenset) -> "_Prefixes | None":
        """The allowed SOURCEs of ``lines`` only (cached per set; None when there are none)."""
        if lines not in self._by_lines:
            if len(self._by_lines) >= MAX_CACHE // 100:
                self._by_lines.clear()
            keep = lines if self._lines is None else lines & self._lines
            p = _Prefixes(allowed_sources(self._source, self._context, sorted(keep)), self.table) if keep else None
            self._by_lines[lines] = p if p else None
        return self._by_lines[lines]

    def key_ids(self, region: str, text: bytes, written: Iterable[bytes] = (),
                names: frozenset | None = None, empty_ok: bool = True) -> tuple[int, ...]:
        """Ids allowed in a key region of LOCALS (:class:`LocalsReader`): ``region`` "open" or
        "next", ``text`` the bytes since the region started, ``written`` the keys (JSON text
        between the quotes) already in this LOCALS, which are not offered again unless no other
        name fits (every name written: a repeated name rather than an invented one). Empty when
        none. ``names`` (the flow's possible keys of this frame) narrows the names, ``empty_ok``
        False rules out ``{}``."""
        p = self._keys.get(region)
        if p is None:
            return ()
        if names is not None or not empty_ok:
            p = self._key_subset(region, names, empty_ok) or p
        exclude = frozenset(x for k in written for x in (b'"' + k + b'"', b' "' + k + b'"'))
        return (exclude and p.next_ids(text, None, exclude)) or p.next_ids(text)

    def _key_subset(self, region: str, names: frozenset | None, empty_ok: bool) -> "_Prefixes | None":
        """The key strings of ``names`` (all local names when None) for ``region`` (cached); None
        when the tokenizer can write none of them."""
        keep = sorted(set(self.local_names) & names) if names is not None else self.local_names
        key = (region, frozenset(keep), empty_ok)
        if key not in self._key_cache:
            if len(self._key_cache) >= MAX_CACHE // 100:
                self._key_cache.clear()
            strings = key_strings(keep, empty_ok)[region]
            p = _Prefixes(strings, self.table, open_tail=True, tail_ok=_json_goes_on) if strings else None
            self._key_cache[key] = p if p else None
        return self._key_cache[key]

    def value_ids(self, state: str, value: bytes, may_close: bool, dots_ok: bool) -> tuple[int, ...]:
        """:meth:`structure_ids`, without the tokens that complete a ``".."`` value when
        ``dots_ok`` is False (the key had no value in the frame before: the diff rule)."""
        ids = self.structure_ids(state, may_close)
        if dots_ok or (state, value) not in _DOT_STARTS:
            return ids
        key = (state, value, may_close, "nodots")
        hit = self._key_cache.get(key)
        if hit is None:
            ban = _dots_sets(self.table)[(state, value)]
            hit = self._key_cache[key] = tuple(i for i in ids if i not in ban)
        return hit

    def structure_ids(self, state: str, may_close: bool) -> tuple[int, ...]:
        """Ids that keep LOCALS well-formed JSON from lexer ``state`` (outside key regions): a
        value is a string, entries are separated by commas, a token may run into the next key
        region only as far as its opening quote; with ``may_close`` False none that closes the
        object; after the closing brace only ``<|action_sep|>``."""
        if state == "done":
            return (self.codec.action_sep_id,)
        ok, close = _structure_sets(self.table).get(state, ((), ()))
        if not may_close:
            return ok
        key = (state, "close")
        hit = self._key_cache.get(key)
        if hit is None:
            hit = self._key_cache[key] = tuple(sorted(set(ok) | set(close)))
        return hit

    def for_frame(self, prefix: Sequence[int] = (), flow: "dict[str, frozenset[int]] | None" = None,
                  keys: "tuple[frozenset[str], frozenset[str]] | None" = None,
                  dots: "frozenset[str] | None" = None) -> "FrameConstraint":
        """The hook for one generation call whose frame starts with ``prefix`` (ids already in
        the sequence, e.g. a forced event token). ``flow``: what the frame may be by the file's
        control flow (``Cursor.allowed``, :mod:`neurodebug.constrain.flow`): the event token is
        then one of its events (an end token when it is empty or has "end") and SOURCE one of that event's
        lines; None leaves both to the other constraints. ``keys``: (required, possible) LOCALS
        keys of the frame if it is a ``line`` frame (``Cursor.keys``), or of the call frame where
        ``flow`` allows only a call frame (the entry's, before the trace starts): with LOCALS keys
        constrained, its keys are names of ``possible``, and it cannot close before every name
        of ``required`` is written. ``dots``: the keys whose value a ``line`` frame may write as
        ``".."`` (``trace.frames.unchanged_keys``: those of the frame it is diffed against, of the
        same function visit; none after a scope change)."""
        return FrameConstraint(self, prefix, flow, keys, dots)


def _spellable(b: bytes, table: TokenTable) -> list[bool]:
    """ok[j]: the bytes b[j:] can be written as a sequence of tokens (ok[len(b)] is True)."""
    n = len(b)
    ok = [False] * (n + 1)
    ok[n] = True
    for j in range(n - 1, -1, -1):
        for k in range(j + 1, min(n, j + table.max_len) + 1):
            if ok[k] and b[j:k] in table.ids_of:
                ok[j] = True
                break
    return ok


_WS = frozenset(b" \t\n\r")

#: Where a token may leave LOCALS text in a key region: at most the opening quote of the next key.
_KEY_OPENINGS = (b"", b" ", b'"', b' "')


#: Where a ".." value can still be completed by one token: (lexer state, value text so far).
_DOT_STARTS = (("colon", b""), ("val0", b""), ("val", b""), ("val", b"."), ("val", b".."))


def _dots_sets(table: TokenTable) -> dict[tuple[str, bytes], frozenset[int]]:
    """Per start of :data:`_DOT_STARTS`: the ids of the tokens that complete a value ``".."`` (the
    diff rule's "unchanged"). Computed once per tokenizer."""
    got = table._dots
    if got is not None:
        return got
    out = {}
    for state, value in _DOT_STARTS:
        ids = []
        for i, b in enumerate(table.bytes_of):
            if not b or b'"' not in b:  # a ".." value ends with a quote
                continue
            r = LocalsReader()
            r.state, r.value = state, value
            r.feed(b)
            if r.dots:
                ids.append(i)
        out[(state, value)] = frozenset(ids)
    table._dots = out
    return out


def _structure_sets(table: TokenTable) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Per lexer state outside key regions ("colon", "val0", "val", "valesc", "after"): (ids of
    the tokens that keep LOCALS well-formed without closing it, ids of those that close it).
    Computed once per tokenizer (a pass over its text tokens per state)."""
    got = table._structure
    if got is not None:
        return got
    out = {}
    for state in ("colon", "val0", "val", "valesc", "after"):
        ok, close = [], []
        for i, b in enumerate(table.bytes_of):
            if not b:
                continue
            r = LocalsReader()
            r.state = state
            closed = False
            for c in b:
                r.feed(bytes((c,)))
                closed = closed or r.state == "done"
                if r.state == "off":
                    break
            if r.state == "off":
                continue
            if r.in_key_region and r.region not in _KEY_OPENINGS:
                continue
            (close if closed else ok).append(i)
        out[state] = (tuple(ok), tuple(close))
    table._structure = out
    return out


def _key_name(key: bytes) -> str:
    """A key as LocalsReader records it (JSON text between the quotes) -> the name."""
    try:
        return json.loads(b'"' + key + b'"')
    except ValueError:
        return key.decode("utf-8", "replace")


def _json_goes_on(key_text: bytes, tail: bytes) -> bool:
    """True when ``tail`` can follow the key region ``key_text`` (a key with its closing quote,
    or ``{}``) in a JSON object: ``": "``, ``":``, ...; after ``{}`` only whitespace."""
    r = LocalsReader()
    r.state = "done" if key_text.endswith(b"}") else "colon"
    r.feed(tail)
    return r.state != "off"


_QUOTE, _BACKSLASH, _COLON, _COMMA, _LBRACE, _RBRACE = b'"\\:,{}'


class LocalsReader:
    """Where the LOCALS text of a call/line frame is, read byte by byte as a JSON lexer would:
    which tells keys from values (a value string may hold quotes, commas, colons and braces).

    ``state``: "start" (before ``{``), "key0" (after ``{`` or ``,``, before a key), "key" /
    "keyesc" (in a key string), "colon", "val0", "val" / "valesc" (in a value string), "after"
    (after a value), "done" (after the closing ``}``), "off" (not JSON of the expected shape:
    unconstrained until the frame ends). A *key region* runs from the start of LOCALS ("open")
    or from just after a ``,`` ("next") through the key's closing quote; ``region`` holds its
    bytes so far and ``in_key_region`` says whether the next token falls in one. ``keys``: the
    keys read so far."""

    __slots__ = ("state", "kind", "region", "keys", "value", "dots")

    def __init__(self):
        self.state = "start"
        self.kind = "open"
        self.region = b""
        self.keys: list[bytes] = []  # the keys read so far (their JSON text between the quotes)
        self.value = b""  # the current value's text so far (up to a few bytes: enough to tell "..")
        self.dots = 0  # values read so far that are exactly ".."

    @property
    def in_key_region(self) -> bool:
        return self.state in ("start", "key0", "key", "keyesc")

    def feed(self, data: bytes) -> None:
        for c in data:
            st = self.state
            if st == "off":
                return
            if st in ("start", "key0", "key", "keyesc"):
                self.region += bytes((c,))
            if st == "start":
                self.state = "key0" if c == _LBRACE else "off"  # no whitespace before "{" on the wire
            elif st == "key0":
                if c == _QUOTE:
                    self.state = "key"
                elif c == _RBRACE and self.kind == "open" and self.region == b"{}":
                    self.state = "done"
                elif c not in _WS:
                    self.state = "off"
            elif st == "key":
                if c == _BACKSLASH:
                    self.state = "keyesc"
                elif c == _QUOTE:
                    self.state = "colon"
                    self.keys.append(self.region[self.region.index(b'"') + 1 : -1])
            elif st == "keyesc":
                self.state = "key"
            elif st == "colon":
                if c == _COLON:
                    self.state = "val0"
                elif c not in _WS:
                    self.state = "off"
            elif st == "val0":
                if c == _QUOTE:
                    self.state = "val"
                    self.value = b""
                elif c not in _WS:
                    self.state = "off"  # values are strings on the wire
            elif st == "val":
                if c == _BACKSLASH:
                    self.state = "valesc"
                    self.value = b"\\"  # not ".." any more
                elif c == _QUOTE:
                    self.state = "after"
                    self.dots += self.value == b".."
                elif len(self.value) < 3:
                    self.value += bytes((c,))
            elif st == "valesc":
                self.state = "val"
            elif st == "after":
                if c == _COMMA:
                    self.state, self.kind, self.region = "key0", "next", b""
                elif c == _RBRACE:
                    self.state = "done"
                elif c not in _WS:
                    self.state = "off"
            elif st == "done":
                if c not in _WS:
                    self.state = "off"


class FrameConstraint:
    """The constraint hook of one generation call (see the module docstring).

    Reads the ids as they come (the call's ``prefix``, then what it generated) with a small
    state machine per frame: head (event, LOCALS) until ``<|action_sep|>``, then SOURCE
    (constrained) until ``<|arg_sep|>`` or ``<|frame_sep|>``, then VALUE. In the head of a
    call/line frame a :class:`LocalsReader` follows the LOCALS text when keys are constrained.
    ``generated`` is read incrementally: it grows during the call, and a list cut back (shorter,
    or as long with another last id: a rejected speculative draft) starts over.
    """

    def __init__(self, source: SourceConstraint, prefix: Sequence[int] = (), flow=None, keys=None, dots=None):
        self.sc = source
        self.flow = flow
        self.keys = keys
        #: the event whose LOCALS ``keys`` are: a line frame's, or where the flow allows only a call
        #: frame (the trace's first frame, the entry's call: Cursor.keys), that call frame's
        self._keys_event = "call" if flow is not None and set(flow) == {"call"} else "line"
        self.dots = dots
        c = source.codec
        self._event_ids = dict(c.event_ids)
        self._flow_events: tuple[int, ...] | None = None
        if flow is not None:
            ids = [self._event_ids[e] for e in flow if e in self._event_ids]
            if not flow or "end" in flow:  # the trace may end here
                ids += list(c.end_ids)
            self._flow_events = tuple(sorted(ids)) or None
        self._frame_sep = c.frame_sep_id
        self._action_sep = c.action_sep_id
        self._arg_sep = c.arg_sep_id
        self._end_ids = set(c.end_ids)
        self._events = dict(c.event_of_id)
        self._bytes_of = source.table.bytes_of
        self._prefix = [int(t) for t in prefix]
        self.steps = 0  # steps asked
        self.constrained_steps = 0  # steps answered with a restricted set
        self.fallbacks = 0  # SOURCE steps left unconstrained because nothing was allowed
        self.key_steps = 0  # LOCALS key steps answered with a restricted set
        self.key_fallbacks = 0  # LOCALS left unconstrained because nothing was allowed
        self.flow_steps = 0  # steps narrowed by the flow (event token or SOURCE)
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._seen = 0
        self._last_read = None
        self._frame_reset()
        for t in self._prefix:
            self._read(t)

    def _frame_reset(self) -> None:
        self._fresh = True  # no token of this frame read yet
        self._event: str | None = None
        self._phase = "head"  # head | source | value | off
        self._text = b""
        self._locals: LocalsReader | None = None

    def _read(self, t: int) -> None:
        if t == self._frame_sep or t in self._end_ids:
            self._frame_reset()
            return
        self._fresh = False
        if self._phase == "head":
            if t == self._action_sep:
                self._phase = "source"
                self._text = b""
                self._locals = None
            elif self._event is None and t in self._events:
                self._event = self._events[t]
                if self.sc.constrains_locals and self._event in ("call", "line"):
                    self._locals = LocalsReader()
            elif self._locals is not None:
                b = self._bytes_of[t] if 0 <= t < len(self._bytes_of) else None
                if b is None:  # a special token or unknown id in LOCALS
                    self._locals.state = "off"
                else:
                    self._locals.feed(b)
        elif self._phase == "source":
            if t == self._arg_sep:
                self._phase = "value"
            else:
                b = self._bytes_of[t] if 0 <= t < len(self._bytes_of) else None
                if b is None:  # a special token or unknown id in SOURCE: no longer ours to steer
                    self._phase = "off"
                else:
                    self._text += b

    def allowed(self, generated: Sequence[int]) -> tuple[int, ...] | None:
        """The ids the next token may be, or None (unconstrained). Never raises."""
        try:
            self.steps += 1
            if len(generated) < self._seen or (self._seen and generated[self._seen - 1] != self._last_read):
                self._reset_stream()  # cut back (a rejected speculative draft): read it again
            for t in generated[self._seen:]:
                self._read(int(t))
            self._seen = len(generated)
            self._last_read = generated[-1] if generated else None
            if self._event is None:
                if self._fresh and self._flow_events is not None and self._seen == 0:
                    self.flow_steps += 1
                    self.constrained_steps += 1
                    return self._flow_events
                return None
            if self._phase == "head":
                lr = self._locals
                if lr is None or lr.state == "off":
                    return None
                names, required = None, frozenset()
                if self.keys is not None and self._event == self._keys_event:
                    required, names = self.keys
                    if required:
                        required = required - {_key_name(k) for k in lr.keys}
                if not lr.in_key_region:
                    self.key_steps += 1
                    self.constrained_steps += 1
                    dots_ok = True
                    if self.dots is not None and self._event == "line" and lr.keys and lr.state in ("colon", "val0", "val"):
                        dots_ok = _key_name(lr.keys[-1]) in self.dots
                    value = lr.value if lr.state == "val" else b""
                    return self.sc.value_ids(lr.state, value, may_close=not required, dots_ok=dots_ok)
                ids = self.sc.key_ids(lr.kind, lr.region, lr.keys, names, empty_ok=not required)
                if not ids:  # not a key we can steer (a token ran past it, or odd JSON): let go
                    self.key_fallbacks += 1
                    lr.state = "off"
                    return None
                self.key_steps += 1
                self.constrained_steps += 1
                return ids
            if self._phase != "source" or not self.sc.constrain_source:
                return None
            lines = self.flow.get(self._event) if self.flow else None
            ids = self.sc.next_ids(self._text, self.sc.end_id(self._event), lines)
            if lines is not None and ids:
                self.flow_steps += 1
            if not ids:  # the text left the allowed strings (it cannot come back): stop steering
                self.fallbacks += 1
                self._phase = "off"
                return None
            self.constrained_steps += 1
            return ids
        except Exception as e:  # noqa: BLE001 - a constraint must never take generation down
            survived(e)
            return None

    __call__ = allowed

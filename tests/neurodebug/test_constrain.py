"""Grammar-constrained SOURCE and LOCALS keys (neurodebug/constrain.py): predicted frames name
lines of the file, and their locals only local names of the file's functions.

The model-level tests run the bundled model (neurodebug/bundled/, skipped when it is not
installed) on a function written for these tests in the style of HumanEval problems (typing
import, type hints, a docstring with doctests, a helper): the small model writes lines that
are not in the file there unless it is constrained.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurodebug.codec import Codec
from neurodebug.constrain.flow import Cursor, Flow
from neurodebug.constrain.grammar import (
    LocalsReader,
    SourceConstraint,
    allowed_sources,
    local_names,
    nameable_lines,
    token_table,
)
from neurodebug.real.tracer import trace_source
from neurodebug.trace.format import START_MARKER, source_lines, wire_source
from neurodebug.trace.format import norm_line as _norm
from neurodebug.trace.frames import unchanged_keys
from tests.sessions import started
from neurodebug import options
from neurodebug.options import SessionOptions

ROOT = Path(__file__).resolve().parents[2]


def flow_parser(codec, source=None, entry=None):
    """A parser that follows the flow, as a Session makes it."""
    source = source or PROGRAM
    return codec.parser(source, entry or ENTRY, Cursor(Flow.of(source)))

PROGRAM = '''from typing import List, Tuple


def _weight(ch: str) -> int:
    """Weight of one letter: vowels count twice."""
    return 2 if ch in "aeiou" else 1


def heaviest_words(words: List[str], k: int) -> List[Tuple[str, int]]:
    """ Return the k words with the largest total letter weight, heaviest first.
    Ties keep the order of the input.
    >>> heaviest_words(["ab", "ee", "c"], 2)
    [('ee', 4), ('ab', 3)]
    """
    scored = []
    for w in words:
        total = 0
        for ch in w:
            total += _weight(ch)
        scored.append((w, total))

    # a stable sort keeps ties in input order
    scored.sort(key=lambda p: -p[1])
    return scored[:k]
'''
ENTRY = "heaviest_words"
CALL = "['ab', 'ee', 'c'], 2"


@pytest.fixture(scope="module")
def bundled():
    from neurodebug.backends import bundled_model, make_predictor

    if bundled_model() is None:
        pytest.skip("the bundled model is not installed")
    return make_predictor(None)


@pytest.fixture(scope="module")
def codec(bundled):
    return Codec(bundled.tokenizer)


# -- the allowed strings -------------------------------------------------------------------------------


def test_nameable_lines_are_the_code_lines_of_traced_scopes():
    lines = source_lines(PROGRAM)
    got = nameable_lines(PROGRAM)
    text = {n: lines[n - 1].strip() for n in got}
    assert "def heaviest_words(words: List[str], k: int) -> List[Tuple[str, int]]:" in text.values()
    assert 'return 2 if ch in "aeiou" else 1' in text.values()
    assert "scored.sort(key=lambda p: -p[1])" in text.values()
    # module level, blank lines, comments and docstrings are never a frame's line
    for never in ("from typing import List, Tuple", "", "# a stable sort keeps ties in input order",
                  "Ties keep the order of the input.", '"""Weight of one letter: vowels count twice."""'):
        assert never not in text.values()
    # every line of a real trace is nameable
    real = trace_source(PROGRAM, ENTRY, CALL)
    assert real.end.reason == "returned" and {f.line for f in real.frames} <= set(got)


def test_a_source_that_does_not_compile_allows_every_line():
    src = "def f(x):\n    return x\nreturn 3\n"
    assert nameable_lines(src) == [1, 2, 3]


def test_allowed_strings_are_what_the_parser_maps_back_to_their_line(codec):
    context = codec.context(PROGRAM, ENTRY)
    allowed = allowed_sources(PROGRAM, context)
    lines = source_lines(PROGRAM)
    real = trace_source(PROGRAM, ENTRY, CALL)
    # the tracer's frames, written as the codec writes them, are all allowed
    assert {wire_source(f.source) for f in real.frames} <= set(allowed)
    # the entry's def line as the context shows it (with the marker) too, with or without "\n"
    def_line = next(ln for ln in lines if ln.startswith("def heaviest_words"))
    assert def_line + START_MARKER + "\n" in allowed and def_line in allowed
    # and every allowed string is read back as a nameable line with the same text
    nameable = set(nameable_lines(PROGRAM))
    for s in allowed:
        parser = codec.parser(PROGRAM, ENTRY)
        n = parser._find(s, None, inclusive=True)
        assert n in nameable and _norm(lines[n - 1]) == _norm(s), s


def test_token_bytes_spell_what_decode_reads(codec):
    tok = codec.tokenizer
    table = token_table(tok)
    assert token_table(tok) is table  # computed once per tokenizer
    text = 'naïve = "日本" + x  # ok\n'
    ids = tok.encode(text)
    assert b"".join(table.bytes_of[i] for i in ids).decode("utf-8") == tok.decode(ids) == text
    assert all(table.bytes_of[i] is None for i in tok.specials.values())


def test_the_real_cwm_vocabulary_is_read_once_and_exactly(cwm_model):
    """Llama 3's 128k tokens (the tiny random checkpoint carries the real tokenizer.model)."""
    tok = cwm_model.tokenizer
    table = token_table(tok)
    assert len(table.bytes_of) == tok.vocab_size == 128_256
    text = "    for idx, elem in enumerate(numbers):  # é\n"
    ids = tok.encode(text)
    assert b"".join(table.bytes_of[i] for i in ids) == text.encode()
    sc = SourceConstraint(Codec(tok), PROGRAM, ENTRY)
    assert sc.allows("    scored = []\n") and not sc.allows("    scored = [] \n")


# -- the per-token check -----------------------------------------------------------------------------


def _walk(sc: SourceConstraint, codec: Codec, frame_ids: list[int], prefix: int = 0):
    """allowed() before each token of an encoded frame; the first ``prefix`` ids are the call's prefix."""
    hook = sc.for_frame(frame_ids[:prefix])
    out = []
    for k in range(prefix, len(frame_ids)):
        out.append((frame_ids[k], hook.allowed(frame_ids[prefix:k])))
    return out


def test_only_source_is_constrained_and_it_ends_on_the_right_token(codec):
    sc = SourceConstraint(codec, PROGRAM, ENTRY)
    table = token_table(codec.tokenizer)
    real = trace_source(PROGRAM, ENTRY, CALL)
    ids, spans = codec.frames_ids(real.frames)
    events = set()
    for (s, e), frame in zip(spans, real.frames):
        fids = ids[s:e]
        lo, hi = (k - s for k in codec.frame_parts(ids, (s, e))["source"])
        end = codec.arg_sep_id if frame.event in ("return", "exception") else codec.frame_sep_id
        other = codec.frame_sep_id if end == codec.arg_sep_id else codec.arg_sep_id
        for prefix in (0, 1):  # generated from scratch, or with the event token forced
            for k, (tok, allowed) in enumerate(_walk(sc, codec, fids, prefix), prefix):
                if not lo <= k <= hi:  # event, LOCALS, <|action_sep|>, VALUE: free
                    assert allowed is None, (frame, k)
                    continue
                assert allowed is not None and tok in allowed  # the real frame is always allowed
                text = b"".join(table.bytes_of[t] for t in fids[lo:k]).decode()
                assert (end in allowed) == sc.allows(text) and other not in allowed
                assert (k == hi) == (tok == end)
        events.add(frame.event)
    assert {"call", "line", "return"} <= events


def test_text_outside_the_file_is_never_offered(codec):
    sc = SourceConstraint(codec, PROGRAM, ENTRY)
    tok = codec.tokenizer
    table = token_table(tok)
    hook = sc.for_frame([codec.event_ids["line"], *tok.encode('{"w": "\'ab\'"}'), codec.action_sep_id])
    text = b""
    generated: list[int] = []
    for _ in range(200):  # walk greedily by the *last* allowed id: an adversarial "model"
        allowed = hook.allowed(generated)
        assert allowed, text
        t = allowed[-1] if codec.frame_sep_id not in allowed else codec.frame_sep_id
        generated.append(t)
        if t == codec.frame_sep_id:
            break
        text += table.bytes_of[t]
    assert sc.allows(text.decode())


def test_nothing_allowed_falls_back_to_unconstrained(codec):
    empty = SourceConstraint(codec, PROGRAM, ENTRY, lines=[])
    assert len(empty) == 0
    hook = empty.for_frame([codec.event_ids["line"], codec.action_sep_id])
    assert hook.allowed([]) is None and hook.fallbacks == 1
    # text that left the allowed strings stays unconstrained until the frame ends
    sc = SourceConstraint(codec, PROGRAM, ENTRY)
    hook = sc.for_frame([codec.event_ids["line"], codec.action_sep_id])
    off = codec.tokenizer.encode("zzz")
    assert hook.allowed(off) is None and hook.allowed(off + off) is None
    assert hook.allowed(off + off + [codec.frame_sep_id, codec.event_ids["line"], codec.action_sep_id])
    assert hook.allowed(["junk"]) is None  # never raises


# -- sessions on the bundled model ------------------------------------------------------------------


def _session(predictor, **kw):
    from neurodebug.session import Session

    kw.setdefault("max_frames", 12)
    kw.setdefault("run_real", False)  # the call frame comes from the literal arguments
    return started(PROGRAM, ENTRY, CALL, predictor, **kw)


def _lines_ok(s) -> None:
    lines = source_lines(PROGRAM)
    nameable = set(nameable_lines(PROGRAM))
    for f in s.frames:
        if "cut off" in (f.malformed or ""):
            continue
        assert f.line in nameable and "unknown line" not in (f.malformed or ""), f
        assert f.source == lines[f.line - 1]


def test_constrained_frames_name_lines_of_the_file(bundled):
    s = _session(bundled)
    assert s.constrained
    s.cont()
    assert len(s.frames) > 1  # the call frame, then what the model wrote (the flow allows no end yet)
    _lines_ok(s)


def test_constrained_sampling_is_reproducible(bundled):
    a = _session(bundled, temperature=0.9, top_p=0.95, seed=11, max_frames=8)
    b = _session(bundled, temperature=0.9, top_p=0.95, seed=11, max_frames=8)
    a.cont()
    b.cont()
    assert a.state.ids == b.state.ids
    _lines_ok(a)


class _NoConstraintState:
    """A local state whose generate takes no constraint (as third-party states may), and says so."""

    def __init__(self, inner):
        self.inner = inner

    applies_constraint = False  # the State interface declares what a backend supports
    gives_logprobs = False  # nor log-probabilities (frames then carry no confidence)

    def generate(self, max_new_tokens, stop_ids=(), temperature=0.0, top_p=1.0, seed=None, on_token=None,
                 should_stop=None):
        return self.inner.generate(max_new_tokens, stop_ids, temperature, top_p, seed, on_token, should_stop)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __len__(self):
        return len(self.inner)


class _OldPredictor:
    def __init__(self, base):
        self.base = base
        self.tokenizer = base.tokenizer
        self.context_limit = base.context_limit

    def open(self, ids):
        return _NoConstraintState(self.base.open(ids))


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_unconstrained_decoding_is_unchanged(bundled, temperature):
    kw = dict(temperature=temperature, top_p=0.9, seed=3, max_frames=6)
    off = _session(bundled, constrain=False, **kw)
    old = _session(_OldPredictor(bundled), **kw)  # a state without the keyword: the code path before
    assert not off.constrained and not old.constrained
    off.cont()
    old.cont()
    assert off.state.ids == old.state.ids


def test_a_constraint_that_allows_nothing_changes_nothing(bundled, monkeypatch):
    import neurodebug.constrain.grammar as C

    real_init = C.SourceConstraint.__init__
    monkeypatch.setattr(C.SourceConstraint, "__init__", lambda self, codec, source, entry=None, lines=None, **kw:
                        real_init(self, codec, source, entry, lines=[], **kw))
    empty = _session(bundled, max_frames=6, constrain_locals=False)
    assert empty.constrained
    empty.cont()
    monkeypatch.undo()
    free = _session(bundled, constrain=False, max_frames=6)
    free.cont()
    assert empty.state.ids == free.state.ids


def test_backends_that_cannot_constrain_are_not_asked(bundled):
    from neurodebug.backends.http import HttpPredictor, HttpState

    assert not HttpState(None, [1]).applies_constraint
    # Meta's contract has no way to restrict a token; vLLM's has allowed_token_ids
    assert not HttpPredictor("http://127.0.0.1:1", bundled.tokenizer).open([1]).applies_constraint
    assert HttpPredictor("http://127.0.0.1:1/v1", bundled.tokenizer).open([1]).applies_constraint
    assert bundled.open([1]).applies_constraint
    old = _session(_OldPredictor(bundled), max_frames=2)
    assert not (old.constrained or old.constrained_locals or old.constrained_flow)


def test_over_vllms_contract_the_http_backend_predicts_what_the_local_one_does(bundled):
    """Constrained decoding over HTTP: free text, repaired with allowed_token_ids where the
    constraint rules a token out, gives the local backend's frames, whatever repairs the model
    needs (test_backends.py's random model needs many: there the repairs themselves are checked)."""
    from neurodebug.backends.http import HttpPredictor
    from neurodebug.serve.server import make_server
    from neurodebug.session import Session

    rec = json.loads((ROOT / "examples" / "suites" / "humaneval.jsonl").read_text().splitlines()[1])
    srv = make_server(bundled, "127.0.0.1", 0)
    srv.start()
    try:
        http = HttpPredictor(srv.url + "/v1", bundled.tokenizer)
        got = []
        for p in (bundled, http):
            s = started(rec["code"], rec["entry"], rec["input"], p, run_real=False)
            s.cont(max_frames=6)
            assert s.constrained and s.constrained_locals and s.constrained_flow
            got.append((s._frame_ids, [(f.event, f.line, f.locals, f.arg) for f in s.frames], s.state))
        assert got[0][:2] == got[1][:2] and len(got[0][1]) > 1
        assert http.client.requests >= 2 * got[1][2].repairs  # a repair, then free text again
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_cli_option_for_locals(tmp_path, bundled):
    p, e = _parsers()
    assert options.from_args(p.parse_args(["x.py"])).constrains_locals is True
    assert options.from_args(e.parse_args(["s.jsonl", "--no-constrain-locals"])).constrains_locals is False
    assert options.from_args(e.parse_args(["s.jsonl", "--no-constrain"])).constrains_locals is False
    s = _session_from_cli(tmp_path, "--no-constrain-locals")
    assert s.constrained and not s.constrained_locals
    s = _session_from_cli(tmp_path, "--no-constrain")
    assert not s.constrained and not s.constrained_locals


def test_the_cli_option(tmp_path, bundled):
    p, e = _parsers()
    assert options.from_args(p.parse_args(["x.py"])).constrain is True
    assert options.from_args(p.parse_args(["x.py", "--no-constrain"])).constrain is False
    assert options.from_args(e.parse_args(["s.jsonl", "--no-constrain"])).constrain is False
    assert _session_from_cli(tmp_path, "--no-constrain").constrained is False


# -- the CWM vocabulary, a random model, both local backends ---------------------------------------


def test_a_random_model_on_the_cwm_vocabulary_writes_lines_of_the_file(local):
    """Forced up to a frame's <|action_sep|>, the tiny random checkpoint (which writes noise
    unconstrained) finishes SOURCE with a line of the file and the right end token."""
    codec = Codec(local.tokenizer)
    sc = SourceConstraint(codec, PROGRAM, ENTRY)
    table = token_table(local.tokenizer)
    real = trace_source(PROGRAM, ENTRY, CALL)
    ids, spans = codec.encode_trace(real, close=False)
    for i in (1, len(real.frames) - 1):  # a line frame and the final return frame
        s, _ = spans[i]
        a = ids.index(codec.action_sep_id, s)
        head = ids[s : a + 1]
        state = local.open(ids[:s] + head)
        new = state.generate(60, stop_ids=codec.stop_ids, constraint=sc.for_frame(head))
        end = codec.arg_sep_id if real.frames[i].event == "return" else codec.frame_sep_id
        assert end in new, new
        text = b"".join(table.bytes_of[t] for t in new[: new.index(end)]).decode()
        assert sc.allows(text)


def test_the_transformers_backend_applies_the_constraint_as_the_local_one(cwm_checkpoint, local):
    pytest.importorskip("transformers")
    from neurodebug.backends import make_predictor

    hf = make_predictor(str(cwm_checkpoint), backend="transformers")
    codec = Codec(local.tokenizer)
    sc = SourceConstraint(codec, PROGRAM, ENTRY)
    prompt = codec.prompt_ids(PROGRAM, ENTRY) + [codec.event_ids["line"], codec.action_sep_id]
    got = []
    for p in (local, hf):
        got.append(p.open(prompt).generate(80, stop_ids=codec.stop_ids, constraint=sc.for_frame(prompt[-2:])))
    assert got[0] == got[1] and codec.frame_sep_id in got[0]


# -- LOCALS keys ---------------------------------------------------------------------------------------

# Written for these tests: a closure, a nested helper, a default argument, a class with a method.
KEYS_PROGRAM = """def _tally(pairs, scale=1):
    counts = {}
    for name, n in pairs:
        counts[name] = counts.get(name, 0) + n * scale
    return counts


class Shelf:
    def __init__(self, label):
        self.label = label

    def tag(self, item):
        return f"{self.label}:{item}"


def busiest(log: str, top: int) -> list:
    \"\"\"The `top` most frequent words of a comma-separated log, as "word:count" tags.\"\"\"
    shelf = Shelf("w")
    words = [w.strip() for w in log.split(",") if w.strip()]
    pairs = [(w, 1) for w in words]
    table = _tally(pairs)

    def rank(item):
        return (-table[item], item)

    best = sorted(table, key=rank)[:top]
    return [shelf.tag(f"{b}={table[b]}") for b in best]
"""
KEYS_ENTRY = "busiest"
KEYS_CALL = "'ant, bee, ant, cat, bee, ant', 2"


def test_local_names_are_the_locals_of_traced_functions():
    names, empty_ok = local_names(KEYS_PROGRAM)
    functions = {"pairs", "scale", "counts", "name", "n", "self", "label", "item", "log", "top", "shelf", "words",
                 "table", "rank", "best"}
    class_body = {"__module__", "__qualname__", "__init__", "tag", "__name__"}  # the names a class body uses
    assert functions <= set(names) <= functions | class_body
    assert "w" not in names and "b" not in names  # comprehension variables are not a frame's locals
    assert empty_ok  # a class body starts with no names: "{}" can be a frame's LOCALS
    assert not local_names("def f(a, *b):\n    return [b for b in a]\n")[1]  # every scope takes parameters
    assert local_names("def f():\n    x = 1\n") == (["x"], True) and local_names("def f(:\n") is None
    # every local of a real trace is a name
    real = trace_source(KEYS_PROGRAM, KEYS_ENTRY, KEYS_CALL)
    assert real.end.reason == "returned"
    assert {k for f in real.frames for k in f.locals} <= set(names)


def _feed_all(chunks):
    """(in_key_region, kind, region) before each chunk, and the reader after all."""
    r = LocalsReader()
    out = []
    for c in chunks:
        out.append((r.in_key_region, r.kind, r.region))
        r.feed(c)
    return out, r


def test_the_locals_reader_tells_keys_from_values():
    # a value holding quotes, commas, colons and braces, split across tokens (\\ and " apart too)
    value = json.dumps("{'a\", \"b\": 1}, \\\\ \"c\":")
    chunks = [b'{"', b"x", b'":', b" "] + [bytes([c]) for c in value.encode()] + [b', "', b"y", b'": "', b'..', b'"}']
    states, r = _feed_all(chunks)
    assert r.state == "done" and r.keys == [b"x", b"y"]
    in_key = [c for c, (k, _, _) in zip(chunks, states) if k]
    assert in_key == [b'{"', b"x", b'":', b"y", b'": "']  # the tokens that write keys, never the value's
    assert states[1] == (True, "open", b'{"') and states[-4] == (True, "next", b' "')
    # a whole frame's LOCALS as json writes it, in one piece: done, no region left open
    r = LocalsReader()
    r.feed(json.dumps({"s": "'a, \"b\": {c}'", "t": "'\\\\'", "u": '":{,}'}).encode())
    assert r.state == "done"
    # what is not the expected JSON switches the reader off (the hook then lets go)
    for bad in (b"[", b' {"', b'{"x": 1', b'{"x" "', b'{"x": "1" "', b'{"x": "1"}x', b'{,'):
        r = LocalsReader()
        r.feed(bad)
        assert r.state == "off", bad
    r = LocalsReader()
    r.feed(b"{}")
    assert r.state == "done"


class _ToyTokenizer:
    """A tokenizer with a hand-picked vocabulary (every single byte, plus merges) and CWM's
    special tokens, for unit tests of the hook on hand-written token sequences."""

    MERGES = [b'{"', b'":', b' "', b'",', b'"}', b' ".."', b' ".."}', b' "..",', b'x', b'xs', b'total', b'tot',
              b'al', b'\\"', b'", "', b"': ", b'_":', b'{}']

    def __init__(self):
        from neurodebug.trace.format import END_TOKENS, EVENT_TOKENS, TRACE_TOKENS

        self.vocab = [bytes([i]) for i in range(256)] + [m for m in self.MERGES if len(m) > 1]
        names = list(dict.fromkeys([*TRACE_TOKENS, *END_TOKENS, *EVENT_TOKENS.values()]))
        self.specials = {n: len(self.vocab) + i for i, n in enumerate(names)}
        self.vocab_size = len(self.vocab) + len(names)

    def special_id(self, name):
        return self.specials[name]

    def has_special(self, name):
        return name in self.specials

    def decode_bytes(self, ids):
        return b"".join(self.vocab[i] for i in ids if i < len(self.vocab))

    def decode(self, ids):
        return self.decode_bytes(ids).decode("utf-8", "replace")

    def ids(self, *pieces):
        return [self.vocab.index(p) for p in pieces]

    def encode(self, text):
        b, out, i = text.encode(), [], 0
        while i < len(b):
            k = max(k for k in range(i + 1, len(b) + 1) if b[i:k] in self.vocab)
            out.append(self.vocab.index(b[i:k]))
            i = k
        return out


def test_the_hook_constrains_keys_and_json_structure_on_hand_written_tokens():
    tok = _ToyTokenizer()
    codec = Codec(tok)
    src = "def f(xs, total):\n    return total\n"
    sc = SourceConstraint(codec, src, "f", constrain_locals=True)
    assert sc.local_names == ["total", "xs"] and sc.constrains_locals
    vocab = tok.vocab
    # {"xs": "[\"a\", {'b': 1}]", "total": ".."}  with the value's quotes, colons, commas, braces
    pieces = [b'{"', b'xs', b'":', b' "', b'[', b'\\"', b'a', b'\\"', b',', b' ', b'{', b"'", b'b', b"'", b':',
              b' ', b'1', b'}', b']', b'", "', b'tot', b'al', b'":', b' ".."}']
    frame = tok.ids(*pieces)
    hook = sc.for_frame([codec.event_ids["line"]])
    for k, t in enumerate(frame):
        allowed = hook.allowed(frame[:k])
        assert allowed is not None and t in allowed, (k, pieces[k])  # every step steered; the real text allowed
        got = {vocab[i] for i in allowed}
        if pieces[k] == b"xs":  # right after {": the first bytes of the names, nothing else
            assert got == {b"x", b"xs", b"t", b"tot", b"total"}
        if pieces[k] == b'":':  # an exact name: the closing quote, alone or with what can follow
            assert {b'"', b'":'} <= got and not got & {b'",', b'"}', b'_":', b'l'}
        if pieces[k] == b' "':  # a value starts: a string, never a bare number or a brace
            assert b"1" not in got and b"}" not in got and b'"' in got
        if pieces[k] in (b"[", b"a", b":"):  # inside a value string: any text, but no key after a quote
            assert {b"[", b"{", b"}", b":", b",", b"1"} <= got and b'", "tot' not in got
    assert hook.allowed(frame) == (codec.action_sep_id,)  # after the closing brace: SOURCE comes
    assert hook.key_fallbacks == 0
    # a key already written is not offered again (the tracer never writes one twice)
    hook = sc.for_frame([codec.event_ids["line"]])
    assert {vocab[i] for i in hook.allowed(tok.ids(b'{"', b'xs', b'":', b' "', b'1', b'", "'))} == {b"t", b"tot", b"total"}
    # unless every name is written: a repeated name then, never an invented one (nor a fallback)
    hook = sc.for_frame([codec.event_ids["line"]])
    both = tok.ids(b'{"', b'xs', b'":', b' "', b'1', b'", "', b'total', b'":', b' "', b'2', b'", "')
    assert {vocab[i] for i in hook.allowed(both)} == {b"x", b"xs", b"t", b"tot", b"total"}
    assert hook.key_fallbacks == 0
    # then <|action_sep|> and SOURCE as before
    rest = frame + [codec.action_sep_id]
    assert {vocab[i] for i in hook.allowed(rest)} == {b"d", b" "}
    assert hook.allowed(rest + tok.ids(b"q")) is None and hook.fallbacks == 1
    # the start of LOCALS: "{" only (no "{}" here, every function takes parameters)
    hook = sc.for_frame([codec.event_ids["call"]])
    assert {vocab[i] for i in hook.allowed([])} == {b"{", b'{"'}
    # a name that is not a local is never offered: an adversarial walk by the last allowed id
    hook = sc.for_frame([codec.event_ids["line"]])
    gen = []
    for _ in range(12):
        allowed = hook.allowed(gen)
        if allowed is None or codec.action_sep_id in allowed:
            break
        gen.append(allowed[-1])
    text = tok.decode(gen)
    assert text.startswith('{"') and text[2:].split('"')[0] in sc.local_names, text
    # return frames and the unconstrained path are not touched
    hook = sc.for_frame([codec.event_ids["return"]])
    assert hook.allowed([]) is None
    free = SourceConstraint(codec, src, "f")
    assert not free.constrains_locals
    hook = free.for_frame([codec.event_ids["line"]])
    assert all(hook.allowed(frame[:k]) is None for k in range(len(frame)))


def test_a_token_that_leaves_the_key_lets_go_of_the_frame():
    tok = _ToyTokenizer()
    codec = Codec(tok)
    sc = SourceConstraint(codec, "def f(xs, total):\n    return total\n", "f", constrain_locals=True)
    hook = sc.for_frame([codec.event_ids["line"]])
    # a free token after a value runs into a key that is no name: no more steering in this frame
    gen = tok.ids(b'{"', b'xs', b'":', b' "', b'1', b'", "', b'q')
    assert hook.allowed(gen) is None and hook.key_fallbacks == 1
    assert hook.allowed(gen + tok.ids(b'":', b' ".."', b",", b" ", b'"')) is None
    # the next frame is steered again
    nxt = gen + [codec.frame_sep_id, codec.event_ids["line"]]
    assert hook.allowed(nxt) is not None
    # odd JSON: unconstrained, never an exception
    hook = sc.for_frame([codec.event_ids["line"]])
    assert hook.allowed(tok.ids(b"[")) is None and hook.allowed(["junk"]) is None


def test_the_real_locals_are_always_allowed(codec):
    sc = SourceConstraint(codec, KEYS_PROGRAM, KEYS_ENTRY, constrain_locals=True)
    real = trace_source(KEYS_PROGRAM, KEYS_ENTRY, KEYS_CALL)
    ids, spans = codec.frames_ids(real.frames)
    n_keyed = 0
    for (s, e), frame in zip(spans, real.frames):
        fids = ids[s:e]
        parts = codec.frame_parts(ids, (s, e))
        for k, (tok, allowed) in enumerate(_walk(sc, codec, fids, 1), 1):
            if allowed is not None:
                assert tok in allowed, (frame, k)
                if "locals" in parts and parts["locals"][0] <= s + k < parts["locals"][1]:
                    n_keyed += 1
    assert n_keyed > len(real.frames)


def _keys_session(predictor, **kw):
    from neurodebug.session import Session

    kw.setdefault("max_frames", 14)
    return started(KEYS_PROGRAM, KEYS_ENTRY, KEYS_CALL, predictor, run_real=False, **kw)


def test_constrained_locals_are_names_of_the_file(bundled):
    names = set(local_names(KEYS_PROGRAM)[0])
    s = _keys_session(bundled, constrain_locals=True)
    assert s.constrained and s.constrained_locals and s.to_json()["constrained_locals"]
    s.cont()
    frames = [f for f in s.frames[1:] if f.event in ("call", "line") and "cut off" not in (f.malformed or "")]
    assert frames
    for f in frames:
        assert set(f.locals) <= names, f


def test_constrain_locals_defaults(bundled):
    assert _keys_session(bundled).constrained_locals is SessionOptions().constrain_locals is True
    # --no-constrain turns every constraint off, whatever the finer switches say
    s = _keys_session(bundled, constrain=False, constrain_locals=True, constrain_flow=True)
    assert not (s.constrained or s.constrained_locals or s.constrained_flow)


def test_keys_off_decodes_as_source_only(bundled, monkeypatch):
    """constrain_locals=False: the hook is the SOURCE-only one (same ids as a constraint built
    without the keyword)."""
    import neurodebug.constrain.grammar as C

    off = _keys_session(bundled, constrain_locals=False, max_frames=5)
    off.cont()
    real_init = C.SourceConstraint.__init__
    monkeypatch.setattr(C.SourceConstraint, "__init__", lambda self, codec, source, entry=None, **kw:
                        real_init(self, codec, source, entry))
    plain = _keys_session(bundled, constrain_locals=True, max_frames=5)
    plain.cont()
    assert off.state.ids == plain.state.ids


def test_a_random_model_on_the_cwm_vocabulary_writes_keys_of_the_file(local):
    """The tiny random checkpoint (noise unconstrained) on Llama 3's 128k tokens: after a forced
    <|line_sep|>, LOCALS starts with a key that is a name of the file."""
    codec = Codec(local.tokenizer)
    sc = SourceConstraint(codec, PROGRAM, ENTRY, constrain_locals=True)  # no "{}": every function takes arguments
    prompt = codec.prompt_ids(PROGRAM, ENTRY) + [codec.event_ids["line"]]
    hook = sc.for_frame(prompt[-1:])
    new = local.open(prompt).generate(12, stop_ids=codec.stop_ids, constraint=hook)
    text = local.tokenizer.decode(new)
    assert text.startswith('{"') and text[2:].split('"')[0] in sc.local_names, text
    assert hook.key_steps >= 2 and hook.key_fallbacks == 0


# -- the control flow (neurodebug.constrain.flow) -----------------------------------------------------------


def _hook_walk(hook, ids):
    """(token, allowed) at each step of generating ``ids`` under ``hook``."""
    return [(t, hook.allowed(ids[:k])) for k, t in enumerate(ids)]


def test_the_flow_narrows_the_event_and_source_and_allows_the_real_frame(codec):
    sc = SourceConstraint(codec, PROGRAM, ENTRY, constrain_locals=True)
    real = trace_source(PROGRAM, ENTRY, CALL)
    ids, spans = codec.frames_ids(real.frames)
    parser = flow_parser(codec)
    lines = source_lines(PROGRAM)
    narrowed = 0
    for (s, e), frame in zip(spans, real.frames):
        flow = parser.walker.allowed()
        fids = ids[s:e]
        if flow is not None:
            hook = sc.for_frame((), flow, parser.walker.keys(), unchanged_keys(parser.frames, parser.depth))
            steps = _hook_walk(hook, fids)
            first = steps[0][1]
            assert set(first) == {codec.event_ids[ev] for ev in flow}  # the event token: only the flow's
            for tok, allowed in steps:
                assert allowed is None or tok in allowed, frame  # the real frame is always allowed
            # SOURCE: only the flow's lines for this event can be written
            lo, _hi = (k - s for k in codec.frame_parts(ids, (s, e))["source"])
            allowed = steps[lo][1]
            free = sc.for_frame(fids[:1]).allowed(fids[1:lo])
            assert set(allowed) <= set(free)
            texts = {wire_source(lines[n - 1]) for n in flow[frame.event]}
            table = token_table(codec.tokenizer)
            assert all(any(t.encode().startswith(table.bytes_of[i]) for t in texts) for i in allowed)
            narrowed += set(allowed) < set(free)
        parser.feed(fids)
    assert narrowed >= 3
    # after the entry's return only the end of the trace may come
    assert parser.walker.allowed() == {}
    end_hook = sc.for_frame((), parser.walker.allowed())
    assert set(end_hook.allowed([])) == set(codec.end_ids)


def test_a_return_line_is_followed_by_a_return_not_a_line(codec):
    sc = SourceConstraint(codec, PROGRAM, ENTRY)
    parser = flow_parser(codec)
    real = trace_source(PROGRAM, ENTRY, CALL)
    ret = next(i for i, f in enumerate(real.frames) if f.event == "line" and "return 2 if" in f.source)
    ids, spans = codec.frames_ids(real.frames[: ret + 1])
    parser.feed(ids)
    flow = parser.walker.allowed()
    assert "line" not in flow and flow["return"] == {real.frames[ret].line}
    allowed = sc.for_frame((), flow).allowed([])
    assert codec.event_ids["line"] not in allowed and codec.event_ids["return"] in allowed


def test_sessions_follow_the_flow(bundled):
    from neurodebug.constrain.flow import check

    s = _session(bundled, max_frames=30)
    assert s.constrained_flow and s.to_json()["constrained_flow"]
    s.cont()
    bad = [i for i, f in enumerate(s.frames) if f.line is None]
    known = s.frames[: bad[0]] if bad else s.frames  # the flow lets go after a frame it cannot place
    assert len(known) > 1  # the call frame and what the model wrote after it
    assert check(PROGRAM, known) == []
    off = _session(bundled, constrain_flow=False)
    assert not off.constrained_flow and off.constrained


def test_the_cli_option_for_flow(tmp_path, bundled):
    p, e = _parsers()
    assert options.from_args(e.parse_args(["s.jsonl"])).constrains_flow is True
    assert options.from_args(e.parse_args(["s.jsonl", "--no-constrain-flow"])).constrains_flow is False
    assert options.from_args(e.parse_args(["s.jsonl", "--no-constrain"])).constrains_flow is False
    s = _session_from_cli(tmp_path, "--no-constrain-flow")
    assert s.constrained and not s.constrained_flow
    s = _session_from_cli(tmp_path, "--beam", "2")
    assert s.constrained_flow and s.beaming and s.options.beam == 2


def _parsers():
    """The argument parsers of the debugger commands and of eval."""
    import argparse

    from neurodebug.cli import _session_args
    from neurodebug.cli import eval as eval_cli

    p = argparse.ArgumentParser()
    _session_args.add_session_arguments(p)
    e = argparse.ArgumentParser()
    eval_cli.add_arguments(e)
    return p, e


def _session_from_cli(tmp_path, *flags: str):
    """The session a debugger command makes of PROGRAM (in ``tmp_path``) with these ``flags``."""
    from neurodebug.cli import _session_args

    program = tmp_path / "prog.py"
    program.write_text(PROGRAM)
    args = _parsers()[0].parse_args([str(program), "--call", CALL, "--entry", ENTRY, "--max-frames", "2", *flags])
    return _session_args.session_from_args(args)


def test_beam_search_sessions(bundled):
    from neurodebug.constrain.flow import check
    from neurodebug.errors import UserError

    s = _session(bundled, max_frames=10, beam=3)
    assert s.beaming and s.to_json()["beam"] == 3
    s.cont()
    assert len(s.frames) > 1
    bad = [i for i, f in enumerate(s.frames) if f.line is None]
    assert check(PROGRAM, s.frames[: bad[0]] if bad else s.frames) == []  # under the same constraints
    assert not _session(bundled, beam=3, temperature=0.7).beaming  # sampling stays token by token
    with pytest.raises(UserError, match="beam cannot be 0"):
        _session(bundled, beam=0)


def test_unchanged_values_only_where_the_frame_before_had_the_key(codec):
    from neurodebug.constrain.grammar import _dots_sets, _key_name

    sc = SourceConstraint(codec, PROGRAM, ENTRY, constrain_locals=True)
    real = trace_source(PROGRAM, ENTRY, CALL)
    ids, spans = codec.frames_ids(real.frames)
    parser = flow_parser(codec)
    completes_dots = _dots_sets(token_table(codec.tokenizer))[("val0", b"")]
    seen = {"after a return": 0, "in a visit": 0}
    for (s, e), frame, before in zip(spans, real.frames, [None] + real.frames[:-1]):
        dots = unchanged_keys(parser.frames, parser.depth) if parser.frames else None
        if frame.event == "line" and dots is not None:
            hook = sc.for_frame((), None, None, dots)
            fids = ids[s:e]
            for k in range(len(fids)):
                allowed = hook.allowed(fids[:k])
                assert allowed is None or fids[k] in allowed  # the real frame is always allowed
                lr = hook._locals
                if lr is not None and lr.state == "val0":  # a value starts: ".." only for a key the frame before had
                    offered = bool(set(allowed) & completes_dots)
                    assert offered == (_key_name(lr.keys[-1]) in dots)
                    seen["after a return" if before.event == "return" else "in a visit"] += 1
                    if before.event == "return":
                        assert not offered  # back in the caller: every value in full
        parser.feed(ids[s:e])
    assert seen["after a return"] and seen["in a visit"]

"""neurodebug.constrain.flow: the static successor sets hold on real traces (every frame of a real trace is one
the flow allows), and they are narrow enough to matter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurodebug.constrain.flow import Cursor, Flow, check
from neurodebug.real import sandbox
from neurodebug.real.tracer import Limits, trace_source
from neurodebug.trace.source import find_entry
from neurodebug.training import datagen

ROOT = Path(__file__).resolve().parents[2]
LIMITS = Limits(wall_s=10, cpu_s=8, max_frames=2000)

# Programs with the control flow that is easy to get wrong: each (source, entry, call).
TRICKY = [
    ("""\
def f(xs):
    total = 0
    for x in xs:
        if x < 0:
            continue
        if x > 10:
            break
        total += x
    else:
        total = -1
    return total
""", "f", "f([1, -2, 3, 11, 4])"),
    ("""\
def f(n):
    i = 0
    while i < n:
        i += 1
    else:
        i = i * 2
    while True:
        i -= 3
        if i < 0: break
    return i
""", "f", "f(5)"),
    ("""\
def f(n):
    out = []
    try:
        out.append(10 // n)
    except ZeroDivisionError as e:
        out.append('zero')
    else:
        out.append('ok')
    finally:
        out.append('done')
    return out
""", "f", "f(0)"),
    ("""\
def g(n):
    try:
        return 1 // n
    finally:
        n = n + 1

def f(n):
    a = g(2)
    try:
        b = g(0)
    except ZeroDivisionError:
        b = None
    return a, b
""", "f", "f(0)"),
    ("""\
class Box:
    def __init__(self, v):
        self.v = v

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.v = 0
        return False

def f(v):
    with Box(v) as b:
        w = b.v + 1
    return w, b.v
""", "f", "f(4)"),
    ("""\
def gen(n):
    for i in range(n):
        yield i * i
    return 'end'

def f(n):
    total = 0
    for sq in gen(n):
        total += sq
    return total
""", "f", "f(3)"),
    ("""\
import functools

def deco(fn):
    @functools.wraps(fn)
    def inner(*a):
        return fn(*a) + 1
    return inner

@deco
def h(x):
    return x * 2

def f(x):
    k = lambda y: -y
    ys = sorted([3, 1, 2], key=k)
    return h(x) + ys[0]
""", "f", "f(5)"),
    ("""\
def fib(n):
    if n < 2: return n
    return fib(n - 1) + fib(n - 2)

def f(n):
    vals = [fib(i) for i in range(n)]
    s = {v % 3
         for v in vals}
    return vals, s
""", "f", "f(5)"),
    ("""\
def f(s):
    d = {}
    for ch in s: d[ch] = d.get(ch, 0) + 1
    x = (1 if len(d) > 2
         else 2)
    total = sum(
        v for v in d.values()
    )
    return d, x, total
""", "f", "f('abcab')"),
    ("""\
def check(x):
    if x > 2:
        raise ValueError(f'too big: {x}')
    return x

def f(xs):
    out = []
    for x in xs:
        out.append(check(x))
    return out
""", "f", "f([1, 2, 3])"),
]


def _ids(items):
    return [f"tricky{i}" for i in range(len(items))]


@pytest.mark.parametrize("source,entry,call", TRICKY, ids=_ids(TRICKY))
def test_every_frame_of_a_tricky_trace_is_allowed(source, entry, call):
    tr = trace_source(source, entry, call, limits=LIMITS)
    assert tr.end.reason in ("returned", "raised"), tr.end.message
    assert len(tr.frames) > 3
    assert check(source, tr.frames) == []


def test_every_frame_of_the_examples_is_allowed():
    n = 0
    for path in sorted((ROOT / "examples").glob("*.py")):
        source = path.read_text()
        entry = find_entry(source)
        from neurodebug.trace.source import find_call_comment

        call = find_call_comment(source, entry) if entry else None
        if entry is None or call is None:
            continue
        tr = trace_source(source, entry, call, limits=LIMITS)
        assert check(source, tr.frames) == [], path.name
        n += 1
    assert n >= 5


def test_every_frame_of_the_generators_programs_is_allowed():
    batch = list(datagen.samples(4242, 0, 60, 2, None))
    traced = list(datagen.trace_samples(batch))
    assert len(traced) > 60
    for s, tr in traced:
        assert check(s.source, tr.frames) == [], s.id


@pytest.mark.parametrize("suite", ["humaneval", "synthetic_heldout"])
def test_every_frame_of_a_suite_is_allowed(suite):
    records = [json.loads(x) for x in (ROOT / "examples" / "suites" / f"{suite}.jsonl").read_text().splitlines()]
    for rec in records[::4]:
        tr = trace_source(rec["code"], rec.get("entry", "f"), rec["input"], limits=LIMITS, runner=sandbox.run_forked)
        assert check(rec["code"], tr.frames) == [], rec["id"]


def test_the_sets_are_what_the_code_says():
    source = """\
def f(n):
    total = 0
    for i in range(n):
        if i % 2:
            total += i
    return total
"""
    flow = Flow.of(source)
    assert flow.after_call(1) == {2}
    assert flow.after_line(2) == {3}
    assert flow.after_line(3) == {4, 6}  # into the body, or past the loop
    assert flow.after_line(4) == {3, 5}  # the if is false: back to the for
    assert flow.after_line(5) == {3}
    assert flow.after_line(6) == frozenset()  # a return line: only return or exception come next
    assert flow.call_lines == {1}


def test_a_loop_on_one_line_is_its_own_successor():
    source = "def f(n):\n    while n > 0: n -= 1\n    return n\n"
    flow = Flow.of(source)
    assert 2 in flow.after_line(2)
    assert check(source, trace_source(source, "f", "f(3)", limits=LIMITS).frames) == []


def test_the_cursor_follows_calls_and_returns():
    source = """\
def g(x):
    return x + 1

def f(x):
    y = g(x)
    return y
"""
    cur = Cursor(Flow.of(source))
    assert cur.allowed() is None  # nothing known before the trace starts
    cur.feed("call", 4)
    assert cur.allowed()["line"] == {5}
    cur.feed("line", 5)
    a = cur.allowed()
    assert a["line"] == {6} and a["call"] == {1}  # only g is called there
    assert "return" not in a  # `y = g(x)` cannot return (an exception there could: it comes first)
    cur.feed("call", 1)
    cur.feed("line", 2)
    a = cur.allowed()
    assert "line" not in a and "call" not in a and a["return"] == {2}  # `return x + 1` calls nothing of the file
    cur.feed("return", 2)
    assert cur.allowed()["line"] == {6}  # back in f, after the line that called
    cur.feed("line", 6)
    cur.feed("return", 6)
    assert cur.allowed() == {}  # the entry returned: only the end of the trace
    cur2 = Cursor(Flow.of(source))
    cur2.feed("call", 4)
    cur2.feed("line", None)  # a frame that named no line: the flow lets go
    assert cur2.allowed() is None


def test_no_flow_for_source_that_does_not_compile():
    assert Flow.of("def f(:\n    pass\n") is None


def test_calls_come_only_from_lines_that_call_the_function_by_name():
    source = """\
def sq(v):
    return v * v

def total(xs):
    s = 0
    for x in xs:
        s += sq(x)
    return s + len(
        [sq(y)
         for y in xs])
"""
    flow = Flow.of(source)
    assert flow.callees(7) == {1}
    assert flow.callees(5) == frozenset() and flow.callees(6) == frozenset()
    assert flow.callees(8) == {1} and flow.callees(9) == {1}  # a multi-line statement: any of its lines
    assert check(source, trace_source(source, "total", "total([1, 2])", limits=LIMITS).frames) == []


@pytest.mark.parametrize("extra", [
    "k = lambda v: sq(v)",  # a lambda calls it: from anywhere
    "k = sq",  # the function is a value
    "class C:\n    f = sq",  # kept as a method: called by an attribute or an operator, from anywhere
])
def test_files_where_calls_can_come_from_anywhere(extra):
    source = f"def sq(v):\n    return v * v\n\n{extra}\n\ndef f(xs):\n    return len(xs)\n"
    flow = Flow.of(source)
    assert 1 in flow.callees(7)


def test_a_return_frame_only_where_python_can_return():
    source = """\
def spin(n):
    k = 0
    while True:
        k += 1
        if k > n:
            break
    return k


def walk(xs):
    for x in xs:
        print(x)


def gen(n):
    for i in range(n):
        yield i


def fail(x):
    y = x + 1
    raise ValueError(y)
"""
    flow = Flow.of(source)
    assert flow.can_return(7) and flow.can_return(17)  # a return statement, a yield
    assert not any(flow.can_return(ln) for ln in (2, 3, 4, 5, 6, 21, 22))
    cur = Cursor(flow)
    for event, line in (("call", 1), ("line", 2), ("line", 3)):
        cur.feed(event, line)
    assert "return" not in cur.allowed()  # the while True: line of the issue
    cur.feed("line", 7)
    assert cur.allowed()["return"] == {7}
    cur = Cursor(flow)
    for event, line in (("call", 20), ("line", 21), ("line", 22)):
        cur.feed(event, line)
    assert "return" not in cur.allowed() and cur.allowed()["exception"] == {22}
    cur.feed("exception", 22)
    assert cur.allowed() is None  # after an exception the function may return at that line
    for entry, call in (("spin", "3"), ("walk", "[1, 2]"), ("gen", "3"), ("fail", "1")):
        tr = trace_source(source, entry, call, limits=LIMITS)
        assert check(source, tr.frames) == [], entry

"""Real project code (issue #23): coding lines, files of classes, the real run's frame cap, whole
end sentences, generator and async entries."""

from __future__ import annotations

import json

import pytest

from neurodebug.cli import main
from neurodebug.errors import UserError
from neurodebug.options import SessionOptions
from neurodebug.real.tracer import trace_file, trace_source
from neurodebug.session import Session
from neurodebug.trace.format import REPR_CUT
from neurodebug.trace.source import read_source, resolve_target

LATIN1 = b"# -*- coding: latin-1 -*-\ndef f(n):\n    s = 'caf\xe9'\n    return s * n\n"


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_sentence(text: str) -> str:
    text = text.strip().removeprefix("neurodebug: ")
    assert "\n" not in text and "Traceback" not in text and text.endswith("."), text
    return text


# -- 1. a PEP 263 coding line ----------------------------------------------------------------------


def test_a_latin1_coding_line_is_honoured(tmp_path):
    p = tmp_path / "cafe.py"
    p.write_bytes(LATIN1)
    assert read_source(p) == LATIN1.decode("latin-1")
    assert Session.from_file(p, call="f(2)").entry == "f"  # built without running anything
    trace = trace_file(p, None, "f(2)")
    assert trace.end.message == "f(2) returned 'cafécafé'."
    assert trace.frames[2].locals == {"n": "2", "s": "'café'"}


def test_the_trace_command_runs_a_latin1_file(capsys, tmp_path):
    p = tmp_path / "cafe.py"
    p.write_bytes(LATIN1)
    rc, out, err = run(capsys, "trace", p, "--call", "f(1)", "--json")
    assert rc == 0, err
    assert json.loads(out)["end"]["value"] == "'café'"


def test_a_byte_order_mark_is_still_dropped(tmp_path):
    p = tmp_path / "bom.py"
    p.write_bytes(b"\xef\xbb\xbfdef f():\n    return '\xc3\xa9'\n")
    assert read_source(p) == "def f():\n    return 'é'\n"


@pytest.mark.parametrize("raw, sentence", [
    (b"def f():\n    return '\xe9'\n",
     "'{p}' is not UTF-8 text, and no '# -*- coding: NAME -*-' line declares another encoding."),
    (b"# -*- coding: klingon -*-\ndef f():\n    return 1\n",
     "'{p}' declares the encoding 'klingon' in its coding line, which Python does not know."),
    (b"\xef\xbb\xbf# -*- coding: latin-1 -*-\ndef f():\n    return 1\n",
     "'{p}' starts with a UTF-8 byte-order mark but its coding line declares another encoding."),
    (b"# -*- coding: ascii -*-\ndef f():\n    return '\xe9'\n",
     "'{p}' is not valid ascii text, the encoding its coding line declares."),
])
def test_text_python_cannot_decode_is_one_sentence(capsys, tmp_path, raw, sentence):
    p = tmp_path / "bad.py"
    p.write_bytes(raw)
    with pytest.raises(UserError) as e:
        read_source(p)
    assert str(e.value) == sentence.format(p=p)
    rc, _, err = run(capsys, "trace", p)
    assert rc == 2 and one_sentence(err) == sentence.format(p=p)


# -- 2. a file with classes and no function ------------------------------------------------------

CLASSES = "class Stack:\n    def push(self, x):\n        return x\n\n\nclass Queue:\n    pass\n"


def test_a_file_of_classes_says_it_has_no_function(capsys, tmp_path):
    p = tmp_path / "prog.py"
    p.write_text(CLASSES)
    said = ("prog.py defines no top-level function to trace, only the classes Stack and Queue: "
            "call a method, as in --call \"Stack().method(...)\".")
    rc, _, err = run(capsys, "trace", p)
    assert rc == 2 and one_sentence(err) == said
    with pytest.raises(UserError, match=r"^prog\.py defines no top-level function"):
        resolve_target(p, None)
    rc, out, err = run(capsys, "trace", p, "--call", "Stack().push(2)")  # as the sentence says
    assert rc == 0 and "Stack().push(2) returned 2." in out, err
    p.write_text("X = 1\n")
    rc, _, err = run(capsys, "trace", p)
    assert rc == 2 and one_sentence(err) == "prog.py defines no top-level function to trace."


def test_a_session_on_a_file_of_classes_names_them():
    with pytest.raises(UserError, match=r"defines no top-level function to trace, only the classes Stack and Queue"):
        Session(CLASSES, None, None)


# -- 3. the real run is capped as the prediction is ------------------------------------------------

SPIN = "def spin(n):\n    i = 0\n    while True:\n        i += n\n"


def test_the_session_caps_the_real_run_at_its_frame_cap():
    assert SessionOptions(max_frames=7).limits().max_frames == 7


def test_compare_caps_the_real_run_at_max_frames(capsys, tmp_path, cwm_checkpoint):
    p = tmp_path / "spin.py"
    p.write_text(SPIN)
    fast = ["--model", cwm_checkpoint, "--max-frame-tokens", "6", "--max-frames", "5"]
    rc, out, err = run(capsys, "compare", p, "--call", "spin(1)", "--json", *fast)
    assert rc == 0, err
    d = json.loads(out)
    assert d["real_end"]["reason"] == "frame_limit" and d["metrics"]["n_real"] == 5
    assert len(d["rows"]) == 5
    rc, out, err = run(capsys, "compare", p, "--call", "spin(1)", "--width", "200", *fast)
    assert rc == 0, err
    assert "real: The real run was cut at the frame cap of 5 (--max-frames), which also caps the prediction." in out


# -- 4. end sentences are never cut mid-word -----------------------------------------------------


def test_an_import_error_is_said_whole(capsys, tmp_path):
    p = tmp_path / "core.py"
    p.write_text("from .util import helper\n\n\ndef f(x):\n    return helper(x)\n")
    rc, _, err = run(capsys, "trace", p, "--call", "f(1)")
    assert rc == 2 and one_sentence(err) == ("Running the module core.py raised ImportError('attempted relative "
                                             "import with no known parent package') at line 1.")


def test_a_long_value_is_cut_at_a_word_boundary_and_says_so():
    words = " ".join(f"word{i}" for i in range(80))
    t = trace_source(f"def f():\n    raise ValueError({words!r})\n", "f", "")
    head, _, tail = t.end.message.partition(" " + REPR_CUT)
    assert tail == " at line 2." and head.startswith("f() raised ValueError('word0 word1")
    assert head.rsplit(" ", 1)[-1] in words.split()  # the last word is whole
    t = trace_source("def f():\n    return 'alpha beta gamma delta ' * 10\n", "f", "")
    assert t.end.message.endswith(f" {REPR_CUT}.") and t.end.message.split(" ")[-2] in ("alpha", "beta", "gamma",
                                                                                          "delta", "'alpha")


# -- 5. generator and async entries ----------------------------------------------------------------

GENERATORS = '''def count_up(n):
    i = 0
    while i < n:
        yield i
        i += 1


def forever():
    i = 0
    while True:
        yield i
        i += 1


def boom():
    yield 1
    raise ValueError('no')


def lazy():
    return (x for x in range(3))


async def co(x):
    y = x + 1
    return y * 2


async def agen(n):
    for i in range(n):
        yield [i]
'''


def test_a_generator_entry_is_consumed_and_says_so():
    t = trace_source(GENERATORS, "count_up", "3")
    assert t.end.reason == "returned" and t.end.value == "[0, 1, 2]"
    assert t.end.message == "count_up(3) is a generator: it was run to its end and yielded 3 values: [0, 1, 2]."
    # docs/trace-format.md: each yield is a return frame with the value, each resumption a call frame
    # at the yield line, the generator's end a return frame with its return value
    assert [(f.event, f.line, f.arg) for f in t.frames if f.event in ("call", "return")] == [
        ("call", 1, None), ("return", 4, "0"), ("call", 4, None), ("return", 4, "1"), ("call", 4, None),
        ("return", 4, "2"), ("call", 4, None), ("return", 3, "None")]
    assert all(f.depth == 0 for f in t.frames)


def test_a_generator_that_never_ends_stops_at_the_frame_cap():
    from neurodebug.real.tracer import Limits

    t = trace_source(GENERATORS, "forever", "", Limits(max_frames=30))
    assert t.end.reason == "frame_limit" and len(t.frames) == 30
    assert t.end.message == ("forever() is a generator: it was run until the trace reached the limit of 30 frames, "
                             "after yielding 6 values.")


def test_a_generator_that_raises_says_what_it_yielded():
    t = trace_source(GENERATORS, "boom", "")
    assert t.end.message == "boom() is a generator: it was run, yielded 1 value and raised ValueError('no') at line 17."


def test_a_returned_generator_expression_is_only_returned():
    t = trace_source(GENERATORS, "lazy", "")
    assert t.end.message.startswith("lazy() returned <generator object lazy.<locals>.<genexpr> at")


def test_async_entries_run_under_asyncio_and_say_so():
    t = trace_source(GENERATORS, "co", "2")
    assert t.end.message == "co(2) is a coroutine: it ran under asyncio.run and returned 6."
    assert [f.event for f in t.frames] == ["call", "line", "line", "return"]
    t = trace_source(GENERATORS, "agen", "2")
    assert t.end.message == ("agen(2) is an async generator: it was run under asyncio.run to its end and yielded "
                             "2 values: [[0], [1]].")
    assert [f.arg for f in t.frames if f.event == "return"] == ["[0]", "[1]", "None"]  # the values, unwrapped


def test_the_trace_command_shows_a_generator_s_body(capsys, tmp_path):
    p = tmp_path / "gen.py"
    p.write_text(GENERATORS)
    rc, out, err = run(capsys, "trace", p, "--call", "count_up(2)", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert len(d["frames"]) == 14 and "yielded 2 values" in d["end"]["message"]


# -- 6. a module that misbehaves on import (tests/hostile/test_hostile_import.py runs more) -------


def test_sys_exit_at_import_is_one_sentence(capsys, tmp_path):
    p = tmp_path / "quits.py"
    p.write_text("import sys\nsys.exit('bye')\n\n\ndef f():\n    return 1\n")
    rc, _, err = run(capsys, "trace", p, "--call", "f()")
    assert rc == 2 and one_sentence(err) == "Running the module quits.py called sys.exit('bye') at line 2."


def test_os_exit_at_import_says_it_was_importing(tmp_path):
    p = tmp_path / "gone.py"
    p.write_text("import os\nos._exit(4)\n\n\ndef f():\n    return 1\n")
    t = trace_file(p, "f", "")
    assert t.end.message == "The traced code ended the process with exit status 4 while the module gone.py was being imported."
    t = trace_source("import os\n\n\ndef f():\n    os._exit(4)\n", "f", "")
    assert t.end.message == "The traced code ended the process with exit status 4."

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
    said = ("prog.py defines no top-level function to trace, only the classes Stack and Queue "
            "(a method cannot be the entry yet).")
    rc, _, err = run(capsys, "trace", p)
    assert rc == 2 and one_sentence(err) == said
    with pytest.raises(UserError, match=r"^prog\.py defines no top-level function"):
        resolve_target(p, None)
    rc, _, err = run(capsys, "trace", p, "--call", "Stack()")
    assert rc == 2 and one_sentence(err) == ("Stack is a class of prog.py, not a function: a class or a method "
                                             "cannot be the entry yet.")
    p.write_text("X = 1\n")
    rc, _, err = run(capsys, "trace", p)
    assert rc == 2 and one_sentence(err) == "prog.py defines no top-level function to trace."


def test_a_session_on_a_file_of_classes_names_them():
    with pytest.raises(UserError, match=r"defines no top-level function to trace, only the classes Stack and Queue"):
        Session(CLASSES, None, None)


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

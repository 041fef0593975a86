"""`neurodebug trace`: the table, --json, limit flags, and one sentence for each user error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neurodebug.cli import main

ROOT = Path(__file__).resolve().parents[2]
HELPER = str(ROOT / "examples" / "helper_call.py")


def cli(capsys, *argv):
    code = main(["trace", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_shape_is_the_worked_example(capsys):
    code, out, err = cli(capsys, HELPER, "--call", "f(1)", "--json")
    assert code == 0 and err == ""
    d = json.loads(out)
    frames = d["frames"]
    assert [(f["event"], f["locals"], f["arg"], f["depth"]) for f in frames] == [
        ("call", {"n": "1"}, None, 0),
        ("line", {"n": ".."}, None, 0),
        ("call", {"a": "1", "b": "2"}, None, 1),
        ("line", {"a": "..", "b": ".."}, None, 1),
        ("line", {"a": "..", "b": "..", "y": "1"}, None, 1),
        ("line", {"a": "..", "b": "..", "y": "3"}, None, 1),
        ("return", {}, "3", 1),
        ("line", {"n": "1", "t": "3"}, None, 0),
        ("return", {}, "6", 0),
    ]
    assert all({"event", "line", "source", "locals", "arg", "depth"} <= set(f) for f in frames)
    assert frames[2]["source"] == "def add(a, b):" and frames[2]["line"] == 1
    assert d["end"]["reason"] == "returned" and d["end"]["value"] == "6"


def test_table(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    code, out, err = cli(capsys, str(ROOT / "examples" / "count_char.py"))
    assert code == 0 and err == ""
    for text in ("event", "def count(s, c):", "n += 1", "return n", "s='strawberry'", "returned 3"):
        assert text in out


def test_traced_code_failing_is_still_exit_0(capsys):
    code, out, _ = cli(capsys, str(ROOT / "examples" / "raise_error.py"), "--json")
    assert code == 0 and json.loads(out)["end"]["reason"] == "raised"


def test_limit_flags(capsys, tmp_path):
    prog = tmp_path / "loop.py"
    prog.write_text("def f():\n    i = 0\n    while True:\n        i += 1\n")
    code, out, _ = cli(capsys, str(prog), "--entry", "f", "--max-frames", "7", "--json")
    d = json.loads(out)
    assert code == 0 and d["end"]["reason"] == "frame_limit" and len(d["frames"]) == 7
    code, out, _ = cli(capsys, str(prog), "--entry", "f", "--max-frames", "100000000", "--wall", "1", "--json")
    assert code == 0 and json.loads(out)["end"]["reason"] == "timeout"


@pytest.mark.parametrize(
    "args, sentence",
    [
        (["missing.py", "--call", "f(1)"], "There is no file"),
        ([HELPER, "--entry", "nope", "--call", "1"], "There is no function named 'nope'"),
        ([HELPER, "--call", "f(1"], "is neither an argument list nor a call"),
        ([HELPER, "--call", "undefined_name"], "raised NameError"),
        ([HELPER, "--wall", "0"], "The option --wall cannot be 0.0: input should be greater than 0"),
    ],
)
def test_user_errors_exit_2_with_one_sentence(capsys, tmp_path, monkeypatch, args, sentence):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("neurodebug: ") and sentence in err and err.count("\n") == 1


def test_syntax_error_and_no_entry(capsys, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    return x +\n")
    code, _, err = cli(capsys, str(bad), "--call", "f(1)")
    assert code == 2 and "syntax error at line 2" in err
    plain = tmp_path / "plain.py"
    plain.write_text("def f(x):\n    return x\n")
    code, _, err = cli(capsys, str(plain), "--call", "1")
    assert code == 2 and "No entry function given" in err


def test_real_command_prints_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "neurodebug", "trace", str(tmp_path / "x.py"), "--call", "f()"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == f"neurodebug: There is no file {str(tmp_path / 'x.py')!r}."


def test_render_highlights_only_real_changes():
    from rich.console import Console

    from neurodebug.real.tracer import trace_file
    from neurodebug.render import trace_table
    from neurodebug.trace.frames import changed_names

    trace = trace_file(HELPER, None, None)
    changed = [changed_names(trace.frames, i) for i in range(len(trace.frames))]
    # back in f after add() returns, only t is new; n is as it was before the call
    assert changed == [{"n"}, set(), {"a", "b"}, set(), {"y"}, {"y"}, set(), {"t"}, set()]
    console = Console(width=200, record=True, color_system=None)
    console.print(trace_table(trace))
    text = console.export_text()
    assert "t = add(n, 2)" in text and "y=3" in text and text.count("\n") >= 9 + 3


def test_a_call_of_an_unknown_function_is_one_sentence(capsys):
    from pathlib import Path

    from neurodebug.cli import main

    example = Path(__file__).resolve().parents[2] / "examples" / "helper_call.py"
    assert main(["trace", str(example), "--call", "g(1)"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "neurodebug: There is no function 'g' at the top level of the file."


def test_a_long_trace_shows_its_first_and_last_rows_and_a_count(capsys, tmp_path):
    prog = tmp_path / "spin.py"
    prog.write_text("def spin(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n")
    code, out, err = cli(capsys, str(prog), "--call", "spin(5000)", "--max-frames", "20000")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("│")]
    steps = [r.split("│")[1].strip() for r in rows if r.split("│")[1].strip()]  # a wrapped row goes on unnumbered
    assert steps[:3] == ["1", "2", "3"] and steps[-1] == "10005" and len(steps) == 61  # 30 + 30 + the count row
    assert "… 9,945 frames not shown" in out and "12497500" in out
    assert ("10,005 frames; the table shows the first 30 and the last 30 (--rows 0 or --json shows all)."
            in " ".join(out.split()))
    code, out, err = cli(capsys, str(prog), "--call", "spin(5000)", "--max-frames", "20000", "--json")
    assert len(json.loads(out)["frames"]) == 10005
    code, out, err = cli(capsys, str(prog), "--call", "spin(3)", "--rows", "0")
    steps = [r.split("│")[1].strip() for r in out.splitlines() if r.startswith("│") and r.split("│")[1].strip()]
    assert "frames not shown" not in out and steps == [str(i) for i in range(1, 12)]
    assert cli(capsys, str(prog), "--call", "spin(3)", "--rows", "-1")[0] == 2

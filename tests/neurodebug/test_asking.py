"""No real run without asking: `predict` never runs the program; `compare`, `debug` and `tui` say
that they do and take --no-run; a call that does not fit the signature is one sentence (exit 2)."""

from __future__ import annotations

import json

import pytest

from neurodebug.real import sandbox
from neurodebug.cli import main

SOURCE = "def f(n, k=2):\n    t = n * k\n    return t\n"
FAST = ["--max-frame-tokens", "6", "--max-frames", "3"]


@pytest.fixture
def prog(tmp_path):
    p = tmp_path / "prog.py"
    p.write_text(SOURCE)
    return p


@pytest.fixture
def runs(monkeypatch):
    """The real runs made (each a child process the sandbox starts), recorded as they happen."""
    made = []
    real = sandbox.run

    def spy(*a, **kw):
        made.append(a)
        return real(*a, **kw)

    monkeypatch.setattr(sandbox, "run", spy)
    return made


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_predict_never_runs_the_program(capsys, prog, cwm_checkpoint, runs):
    rc, out, err = run(capsys, "predict", prog, "--call", "f(3)", "--model", cwm_checkpoint, *FAST)
    assert rc == 0, err
    assert "n=3, k=2" in out.splitlines()[1] and runs == []
    rc, out, err = run(capsys, "predict", prog, "--call", "f(len('ab'))", "--model", cwm_checkpoint, *FAST)
    assert rc == 2 and runs == []
    assert err == ("neurodebug: The arguments \"len('ab')\" are not all Python literals, and without a real run "
                   "nothing can evaluate them; a command that runs the program (compare, debug) can.\n")


def test_commands_that_run_say_so_and_take_no_run(capsys, prog, cwm_checkpoint, runs):
    for cmd in ("compare", "debug", "tui"):
        with pytest.raises(SystemExit):
            main([cmd, "-h"])
        out = capsys.readouterr().out
        assert "--no-run" in out and "do not run the program" in out
    with pytest.raises(SystemExit):
        main(["-h"])
    top = " ".join(capsys.readouterr().out.split())
    assert "(the program never runs)" in top and "run it for real" in top
    rc, out, err = run(capsys, "compare", prog, "--call", "f(3)", "--model", cwm_checkpoint, "--no-run")
    assert rc == 2 and "With --no-run, compare needs --real TRACE.json" in err and runs == []


def test_compare_with_a_recorded_trace_runs_nothing(capsys, prog, cwm_checkpoint, runs, tmp_path):
    rc, out, err = run(capsys, "trace", prog, "--call", "f(3)", "--json")
    assert rc == 0, err
    recorded = tmp_path / "f3.json"
    recorded.write_text(out)
    assert len(runs) == 1  # the spy sees a real run
    runs.clear()
    rc, out, err = run(capsys, "compare", prog, "--real", recorded, "--model", cwm_checkpoint, "--json", *FAST)
    assert rc == 0, err
    d = json.loads(out)
    assert runs == [] and d["call"] == "3" and d["real_end"]["message"] == "f(3) returned 6."
    assert d["rows"][0]["real"]["locals"] == {"n": "3", "k": "2"}
    rc, out, err = run(capsys, "compare", prog, "--call", "f(4)", "--real", recorded, "--model", cwm_checkpoint)
    assert rc == 2 and "The recorded trace is of the call f(3), not f(4)." in err
    (tmp_path / "other.py").write_text(SOURCE + "\n")
    rc, out, err = run(capsys, "compare", tmp_path / "other.py", "--real", recorded, "--model", cwm_checkpoint)
    assert rc == 2 and "in another source" in err
    recorded.write_text("[1,")
    rc, out, err = run(capsys, "compare", prog, "--real", recorded, "--model", cwm_checkpoint)
    assert rc == 2 and "is not a trace written by `neurodebug trace --json`" in err


def test_debug_no_run(capsys, prog, cwm_checkpoint, runs, monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO("q\n"))
    rc, out, err = run(capsys, "debug", prog, "--call", "f(3)", "--model", cwm_checkpoint, "--no-run", *FAST)
    assert rc == 0, err
    assert "(real run: The real run is off for this session.)" in out and runs == []


@pytest.mark.parametrize("call, words", [
    ("f(1, 2, 3)", "The call f(1, 2, 3) does not fit f(n, k=2): too many positional arguments."),
    ("f()", "The call f() does not fit f(n, k=2): missing a required argument: 'n'."),
    ("f(1, m=2)", "The call f(1, m=2) does not fit f(n, k=2): got an unexpected keyword argument 'm'."),
    ("f(1, n=2)", "The call f(1, n=2) does not fit f(n, k=2): multiple values for argument 'n'."),
    ("f(n=1, n=2)", "The call f(n=1, n=2) gives the keyword argument 'n' twice."),
])
@pytest.mark.parametrize("cmd", ["predict", "compare"])
def test_a_call_that_does_not_fit_names_the_signature(capsys, prog, cwm_checkpoint, runs, cmd, call, words):
    rc, out, err = run(capsys, cmd, prog, "--call", call, "--model", cwm_checkpoint, *FAST)
    assert (rc, err) == (2, f"neurodebug: {words}\n") and runs == []


def test_trace_with_a_call_that_does_not_fit_exits_2_naming_the_signature(capsys, prog, runs):
    rc, out, err = run(capsys, "trace", prog, "--call", "f(1, 2, 3)")
    assert (rc, out, runs) == (2, "", [])
    assert err == "neurodebug: The call f(1, 2, 3) does not fit f(n, k=2): too many positional arguments.\n"


COMMENTED = "# neurodebug: fact(4)\ndef fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n\n\ndef other(x):\n    return x\n"


def test_a_call_comment_selects_its_function(capsys, tmp_path, cwm_checkpoint):
    p = tmp_path / "commented.py"
    p.write_text(COMMENTED)
    rc, out, err = run(capsys, "trace", p, "--json")
    assert rc == 0, err
    assert json.loads(out)["end"]["message"] == "fact(4) returned 24."
    rc, out, err = run(capsys, "predict", p, "--model", cwm_checkpoint, *FAST)
    assert rc == 0 and out.startswith("# ") and "fact(4)" in out.splitlines()[0]
    p.write_text(COMMENTED.replace("def other", "# neurodebug: other(1)\ndef other"))  # two: no guess
    rc, out, err = run(capsys, "trace", p)
    assert rc == 2 and "No entry function given" in err

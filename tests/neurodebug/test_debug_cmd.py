"""`neurodebug debug`'s prompt (neurodebug.cli.debug.Debugger, a cmd.Cmd) driven by a scripted stdin.

The session replays the real trace of the worked example (tests/replay.py), so every frame the
prompt shows is known: these tests check the commands, their aliases, their output and the loop
(empty line, end of input, Ctrl-C), not a model.
"""

from __future__ import annotations

import io
import re

import pytest

from neurodebug.cli.debug import HELP_TEXT, Debugger
from neurodebug.real.tracer import trace_source
from tests.programs import WORKED_EXAMPLE
from tests.replay import ReplayPredictor
from tests.sessions import started


@pytest.fixture(scope="module")
def real():
    return trace_source(WORKED_EXAMPLE, "f", "1")


@pytest.fixture(scope="module")
def tokenizer():
    from neurodebug.model.tokenizer import llama3_tokenizer

    return llama3_tokenizer()


@pytest.fixture
def session(real, tokenizer):
    """A started session that predicts the real run exactly, beside the recorded real trace."""
    return started(WORKED_EXAMPLE, "f", "1", ReplayPredictor(tokenizer, [real]), real=real)


def drive(session, script: str) -> tuple[int, str]:
    """Greet, read ``script`` as stdin until quit or its end: (exit code, everything printed)."""
    out = io.StringIO()
    d = Debugger(session, io.StringIO(script), out)
    d.greet()
    return d.run(), out.getvalue()


def after_prompts(out: str) -> list[str]:
    """What each command printed, in order (the text after each prompt)."""
    return out.split("(nd) ")[1:]


def test_greeting_moves_and_their_aliases(session):
    rc, out = drive(session, "s\nstep\nback\nb\nn\nnext\nq\n")
    assert rc == 0
    assert out.startswith("neurodebug debug: f(1) with replay\n[1] -> 6: def f(n):   (call, depth 0)\n"
                          "     predicted: n=1\n     real:      line 6 (call) n=1\n(nd) ")
    steps = [r.split(" ->", 1)[0] for r in after_prompts(out)[:-1]]
    assert steps == ["[2]", "[3]", "[2]", "[1]", "[2]", "[5]"]  # next steps over add()
    assert out.count("(nd) ") == 7 and after_prompts(out)[-1] == ""


def test_out_continue_until_and_the_end(session):
    rc, out = drive(session, "s\ns\ns\no\nc\n")
    shown = after_prompts(out)
    assert shown[3].startswith("[7] -> 4: return y   (return, depth 1)\n     predicted returns 3")  # out of add()
    assert "(end: The predicted trace returned 6.)" in shown[4]
    assert out.endswith("(nd) \n")  # end of input: a newline, and the prompt ends with 0
    assert rc == 0
    _, out = drive(started(WORKED_EXAMPLE, "f", "1", session.predictor, real=session.real), "until 8\nunt 3\nu x\nq\n")
    shown = after_prompts(out)
    assert shown[0].startswith("[8] -> 8: return t * 2") and "(end:" in shown[1]  # no later frame at line 3
    assert shown[2] == "*** until needs a line number, e.g. until 12.\n"


def test_print_where_and_list(session):
    rc, out = drive(session, "s\ns\np\np a\nprint nope\nw\nl\nlist 2\nl x\nq\n")
    shown = after_prompts(out)
    assert shown[2] == "{'a': '1', 'b': '2'}\n  (real: {'a': '1', 'b': '2'})\n"
    assert shown[3] == "1\n  (real: 1)\n"
    assert shown[4] == "No such variable: nope\n"
    assert shown[5] == shown[1]  # where shows the current frame again
    assert shown[6].splitlines()[:2] == ["   1 -> def add(a, b):", "   2        y = a"]
    assert "START_OF_TRACE" not in shown[6] and "   6    def f(n):" in shown[6]
    assert shown[7].splitlines()[0] == "   1 -> def add(a, b):" and len(shown[7].splitlines()) == 7
    assert shown[8] == "*** list takes a line number, e.g. list 12.\n"


def test_list_marks_the_real_line_where_it_differs(session, monkeypatch):
    from neurodebug.trace.frames import Frame

    monkeypatch.setattr(session, "real_frame", lambda i: Frame("line", 7, "    t = add(n, 2)", {"n": "1"}, None, 0, "f"))
    _, out = drive(session, "l\nq\n")
    lines = after_prompts(out)[0].splitlines()
    assert "   6 -> def f(n):" in lines and "   7 =>     t = add(n, 2)" in lines


def test_set_and_reset(session):
    rc, out = drive(session, "s\nset n = 5\nset n\nreset\nq\n")
    shown = after_prompts(out)
    assert shown[1].startswith("[2] -> 7:") and "predicted: n=5" in shown[1]
    assert "line 7 (line) n=1   <- differs" in shown[1]
    assert shown[2] == "*** Write set NAME = VALUE, e.g. set n = 5.\n"
    assert shown[3].startswith("[1] -> 6: def f(n):") and "predicted: n=1" in shown[3]


def test_an_empty_line_repeats_the_last_move_but_never_set_or_reset(session):
    _, out = drive(session, "s\n\n\nset b = 7\n\nreset\n\nq\n")
    shown = after_prompts(out)
    assert [r.split(" ->", 1)[0] for r in shown[:3]] == ["[2]", "[3]", "[4]"]
    assert shown[4] == "" and shown[6] == ""  # after set and after reset: nothing happens
    _, out = drive(session, "\nq\n")  # nothing before: nothing to repeat
    assert after_prompts(out)[0] == ""


def test_unknown_commands_and_errors_keep_the_prompt(session):
    _, out = drive(session, "bogus\n=\nuntil 99\nq\n")
    shown = after_prompts(out)
    assert shown[0] == "Unknown command 'bogus'; h for help.\n" and shown[1] == "Unknown command '='; h for help.\n"
    assert shown[2].startswith("*** Line 99 is not a line")


def test_help_lists_every_command_and_explains_one(session):
    _, out = drive(session, "h\nhelp\n?\nhelp until\nhelp u\nhelp s\nhelp nothing\nq\n")
    shown = after_prompts(out)
    assert shown[0] == shown[1] == shown[2] == HELP_TEXT + "\n"
    for line in ("s, step          next frame, into calls", "until LINE       to the next frame at LINE",
                 "set name = value give a local a new value and predict again from there", "q, quit          leave"):
        assert line in HELP_TEXT.splitlines()
    assert shown[3] == shown[4] and shown[3].startswith("until LINE") and "Aliases: unt, u." in shown[3]
    assert shown[5] == "s, step          next frame, into calls\n"
    assert shown[6] == "*** No help on nothing\n"


def test_quit_aliases(session):
    for word in ("q", "quit", "exit"):
        rc, out = drive(session, f"{word}\ns\n")
        assert rc == 0 and out.count("(nd) ") == 1 and out.endswith("(nd) ")


def test_frame_goes_back_to_a_step(session):
    _, out = drive(session, "c\nframe 2\nframe 3\nframe 0\nframe x\nq\n")
    shown = after_prompts(out)
    assert shown[1].startswith("[2] -> 7: t = add(n, 2)") and session.index == 1
    assert shown[2] == "*** Step 3 is not one of the steps so far (1 to 2); step, next, until or continue go forward.\n"
    assert shown[3].startswith("*** Step 0 is not") and shown[4] == "*** frame needs a step number, e.g. frame 3.\n"


def test_ctrl_c_during_a_move_cancels_it_and_shows_where_it_stopped(session, monkeypatch):
    cancelled = []

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "step", interrupted)
    monkeypatch.setattr(session, "cancel", lambda: cancelled.append(True))
    rc, out = drive(session, "s\nq\n")
    assert rc == 0 and cancelled == [True] and after_prompts(out)[0].startswith("[1] -> 6: def f(n):")


def test_ctrl_c_at_the_prompt_gives_a_new_prompt(session):
    class Interrupting(io.StringIO):
        def __init__(self, text):
            super().__init__(text)
            self.interrupted = False

        def readline(self, *a):
            if not self.interrupted:
                self.interrupted = True
                raise KeyboardInterrupt
            return super().readline(*a)

    out = io.StringIO()
    d = Debugger(session, Interrupting("s\nq\n"), out)
    assert d.run() == 0
    assert out.getvalue().startswith("(nd) \n(nd) [2] -> 7:")


def test_real_continues_from_the_real_run_and_the_end_counts_each_stretch(real, tokenizer):
    from dataclasses import replace

    frames = list(real.frames)
    frames[4] = replace(frames[4], locals={**frames[4].locals, "y": "7"})  # the model's mistake: y = 7
    wrong = replace(real, frames=frames)
    s = started(WORKED_EXAMPLE, "f", "1", ReplayPredictor(tokenizer, [wrong, real]), real=real)
    _, out = drive(s, "s\ns\ns\ns\nreal\nc\nq\n")
    shown = after_prompts(out)
    assert "predicted: a=1, b=2, y=7" in shown[3] and "<- differs" in shown[3]
    assert "predicted: a=1, b=2, y=1" in shown[4] and "<- differs" not in shown[4]  # the real frame, taken
    assert "From the start: the model wrote 4 frames; 1 differs from the real run, the first at step 5." in shown[5]
    assert "From step 6 (after the real run's frames): the model wrote 4 frames; none differs" in shown[5]


def test_the_model_s_confidence_and_its_unsure_values_are_shown():
    """On the bundled model: each predicted frame says how sure the model was and how likely the
    prediction is still on the real path, and values under the threshold (every one, at 1.0)
    carry the unsure mark, in the frame and in `p NAME`."""
    from pathlib import Path

    from neurodebug import Session, SessionOptions
    from neurodebug.backends import bundled_model

    if bundled_model() is None:
        pytest.skip("the bundled model is not installed")
    path = Path(__file__).resolve().parents[2] / "examples" / "count_char.py"
    s = Session.from_file(path, None, None, SessionOptions(max_frames=6, run_real=False, unsure_below=1.0)).start()
    rc, out = drive(s, "s\ns\ns\np ch\nq\n")
    frame, printed = after_prompts(out)[2], after_prompts(out)[3]
    assert rc == 0 and re.search(r"\(line, depth 0, \d+% sure\?, on track \d+%\)", frame), frame
    assert "ch='" in frame and "'?" in frame.split("predicted:")[1]
    assert printed.startswith("'") and "% sure, unsure)" in printed

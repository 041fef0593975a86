"""Session operations on a real (tiny, random) checkpoint: frames, KV cache lengths, cost counters.

Deterministic well-formed frames come from ScriptedPredictor (tests/neurodebug/scripted.py):
the real model, steered along the real trace's encoding (the teacher path), so each frame is
computed by the model and the cache holds exactly what a real prediction would leave there.
"""

from __future__ import annotations

import threading

import pytest

from neurodebug.codec import Codec
from neurodebug.errors import UserError
from neurodebug.real.tracer import trace_source
from neurodebug.session import Session
from neurodebug.trace.frames import Trace
from tests.neurodebug.scripted import ScriptedPredictor
from tests.programs import WORKED_EXAMPLE
from tests.sessions import started, started_file

SOURCE = WORKED_EXAMPLE


@pytest.fixture(scope="module")
def real():
    t = trace_source(SOURCE, "f", "1")
    assert t.end.reason == "returned" and t.return_value == "6"
    return t


@pytest.fixture(scope="module")
def codec(local):
    return Codec(local.tokenizer)


def elided_script(codec, real):
    """The trace as the model writes it when `next` forces add's return right after its call."""
    fr = real.frames
    keep = [f for f in fr if not (f.depth == 1 and f.event == "line")]
    return codec.encode_trace(Trace(real.source, real.entry, real.call, keep, real.end))[0]


@pytest.fixture()
def teacher(local, codec, real):
    return ScriptedPredictor(local, [codec.encode_trace(real)[0], elided_script(codec, real)])


def same(a, b):
    return (a.event, a.line, a.locals, a.arg, a.depth) == (b.event, b.line, b.locals, b.arg, b.depth)


def frame_len(s, i):
    return len(s._frame_ids[i])


def test_call_frame_forced_with_real_arguments(teacher, real, codec):
    s = started(SOURCE, None, "f(1)", teacher, seed=0)
    assert s.entry == "f" and s.call == "1"
    assert s.index == 0 and same(s.current, real.frames[0])
    prompt = codec.prompt_ids(SOURCE, "f")
    assert len(s.state) == len(prompt) + frame_len(s, 0)
    # the prompt and the forced frame were computed once, nothing else
    assert s.tokens_computed == len(s.state)
    assert s.real_frame(0) is s.real.frames[0] and same(s.real_frame(0), real.frames[0])


def test_step_follows_the_teacher_and_costs_only_the_new_frame(teacher, real):
    s = started(SOURCE, "f", "1", teacher)
    for i in range(1, len(real.frames)):
        before_len, before_cost = len(s.state), s.tokens_computed
        f = s.step()
        assert same(f, real.frames[i]), i
        assert s.index == i
        assert len(s.state) == before_len + frame_len(s, i)
        assert s.tokens_computed - before_cost == frame_len(s, i)  # only the new frame's tokens
    assert not s.ended
    s.step()
    assert s.ended and s.end.reason == "end_of_text" and s.end.value == "6"
    cmp = s.comparison()
    assert cmp.first_divergence is None
    assert cmp.metrics.state_exact == 1.0 and cmp.metrics.action_exact == 1.0
    assert cmp.metrics.valid_format == 1.0 and cmp.metrics.output_match is True
    assert s.step() is s.current  # nothing after the end


def test_next_forces_the_callee_return(teacher, real):
    s = started(SOURCE, "f", "1", teacher)
    s.step()  # t = add(n, 2)
    assert s.current.line == 7
    f = s.next()
    # call add, forced return (the model predicts 3 directly), then f's next line
    assert [x.event for x in s.frames] == ["call", "line", "call", "return", "line"]
    assert s.frames[3].arg == "3" and s.frames[3].depth == 1 and s.elided == {3}
    assert f.line == 8 and f.locals == {"n": "1", "t": "3"} and f.depth == 0
    # the real frame aligned with f's line skips add's body
    assert same(s.real_frame(4), real.frames[7])
    assert s.comparison().first_divergence is None
    s.cont()
    assert s.ended and s.predicted_trace().return_value == "6"


def test_next_generate_mode_keeps_the_callee_frames(teacher, real):
    s = started(SOURCE, "f", "1", teacher, step_over="generate")
    s.step()
    f = s.next()
    assert f.line == 8 and len(s.frames) == 8 and not s.elided
    assert all(same(a, b) for a, b in zip(s.frames, real.frames))


def test_out_stops_at_the_return_of_the_current_function(teacher, real):
    s = started(SOURCE, "f", "1", teacher)
    s.step(), s.step(), s.step()  # into add: call, y = a
    assert s.current.func == "add" and s.current.line == 2
    f = s.out()
    assert f.event == "return" and f.depth == 1 and f.arg == "3"
    f = s.out()  # from add's return: to f's return
    assert f.event == "return" and f.depth == 0 and f.arg == "6"


def test_run_to_and_continue(teacher, real):
    s = started(SOURCE, "f", "1", teacher)
    f = s.run_to(3)
    assert f.line == 3 and f.locals == {"a": "1", "b": "2", "y": "1"}
    assert s.index == 4
    f = s.cont(max_frames=2)
    assert s.index == 6 and not s.ended
    s.cont()
    assert s.ended and len(s.frames) == len(real.frames)
    with pytest.raises(UserError):
        s.run_to(99)


def test_back_truncates_the_cache_and_recomputes_nothing(teacher, real):
    s = started(SOURCE, "f", "1", teacher)
    s.step(), s.step(), s.step()
    start3, cost = s._starts[3], s.tokens_computed
    f = s.back()
    assert s.index == 2 and same(f, real.frames[2])
    assert len(s.state) == start3 and s.tokens_computed == cost
    again = s.step()
    # the new frame, plus the last kept token whose logits a truncate does not keep
    assert same(again, real.frames[3]) and s.tokens_computed - cost == frame_len(s, 3) + 1
    # back over the end of the trace
    s.cont()
    assert s.ended
    s.back()
    assert not s.ended and s.index == len(real.frames) - 2
    # the forced call frame is the input: back stops there
    for _ in range(20):
        s.back()
    assert s.index == 0 and len(s.state) == s._starts[0] + frame_len(s, 0)


def test_set_local_rewrites_the_frame_and_drops_what_followed(teacher, real, codec):
    s = started(SOURCE, "f", "1", teacher)
    s.run_to(3)  # y = y + b, with y = 1
    start = s._starts[4]
    f = s.set_local("y", "41")
    assert s.index == 4 and f.locals == {"a": "1", "b": "2", "y": "41"} and f.line == 3
    assert 4 in s._forced and len(s.frames) == 5
    wire = {"a": "..", "b": "..", "y": "41"}  # unchanged values in the diff form
    assert s._frame_ids[4] == codec.frame_ids(f, wire)
    assert len(s.state) == start + len(s._frame_ids[4])
    # the model continues from the edited state (off the teacher's path: the random model writes)
    before = len(s.state)
    s.options = s.options.model_copy(update={"max_frame_tokens": 8})
    s.step()
    assert len(s.state) > before and len(s.frames) == 6
    with pytest.raises(UserError):
        s.set_local("not a name", "1")
    with pytest.raises(UserError):
        s.set_local("y", "1 +")


def test_set_local_on_the_call_frame_reruns_the_real_program(teacher):
    s = started(SOURCE, "f", "1", teacher)
    s.set_local("n", "5")
    assert s.call == "5" and s.real.return_value == "14" and s.index == 0


def test_reset_drops_everything_after_the_call(teacher, codec):
    s = started(SOURCE, "f", "1", teacher)
    s.cont()
    s.reset(seed=7)
    assert s.index == 0 and not s.ended and s.base_seed == 7
    assert len(s.state) == len(codec.prompt_ids(SOURCE, "f")) + frame_len(s, 0)
    assert s.step().line == 7


def test_without_a_call_the_model_proposes_the_arguments(teacher, real):
    s = started(SOURCE, "f", None, teacher)
    assert s.call == "1" and s.current.locals == {"n": "1"}
    assert s.real is not None and s.real.return_value == "6"
    assert 0 not in s._forced


def test_cancel_stops_mid_frame_and_leaves_the_session_consistent(teacher, real):
    s = started(SOURCE, "f", "1", teacher)
    s.step()
    teacher.emitted = 0
    teacher.after_token = lambda n: s.cancel() if n == 30 else None
    f = s.cont()
    # cancelled inside a frame: that frame is gone, the cache ends where the last frame ended
    assert not s.ended and f is s.current
    assert len(s.state) == s._starts[-1] + frame_len(s, s.index)
    assert all(same(a, b) for a, b in zip(s.frames, real.frames))
    teacher.after_token = None
    s.cont()
    assert s.ended and len(s.frames) == len(real.frames)


def test_cancel_from_another_thread(local):
    s = started(SOURCE, "f", "1", local, max_frame_tokens=100000, max_frames=100000)
    t = threading.Timer(0.5, s.cancel)
    t.start()
    s.cont()  # a random model never ends by itself; cancel does
    t.join()
    assert not s.ended
    assert len(s.state) == s._starts[-1] + frame_len(s, s.index)


def test_random_model_frames_are_kept_and_marked(local, codec):
    s = started(SOURCE, "f", "1", local, max_frame_tokens=12, max_frames=9)  # the real run's 9 frames: not cut
    s.cont()
    assert s.ended and s.end.reason in ("token_cap", "frame_cap", "end_of_text")
    assert all(f.malformed for f in s.frames[1:])
    total = len(codec.prompt_ids(SOURCE, "f")) + sum(len(x) for x in s._frame_ids)
    assert len(s.state) == total + (1 if s._end_start is not None else 0)
    d = s.to_json()
    assert d["index"] == s.index and d["real"]["end"]["reason"] == "returned" and d["divergence"]["step"] == 1


def test_user_errors(local, tmp_path):
    with pytest.raises(UserError, match="no file"):
        started_file(tmp_path / "missing.py", call="f(1)", predictor=local)
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    with pytest.raises(UserError, match="syntax error"):
        started_file(bad, call="f(1)", predictor=local)
    with pytest.raises(UserError):
        started(SOURCE, "nope", "1", local)
    with pytest.raises(UserError):
        started(SOURCE, "f", "f(1", local)
    # arguments that are not literals need the real run for their reprs
    with pytest.raises(UserError, match="not all Python literals, and without a real run"):
        started(SOURCE, "f", "len('ab')", local, run_real=False)
    s = started(SOURCE, "f", "len('ab')", local)  # with the real run: its call frame's repr
    assert s.current.locals == {"n": "2"}


def test_a_failure_inside_a_frame_leaves_the_session_as_it_was(teacher, real):
    s = started(SOURCE, "f", "1", teacher)
    s.step()
    n_state, n_frames = len(s.state), len(s.frames)

    def fail(n):
        if n == 5:
            raise UserError("The model server went away.")

    teacher.emitted, teacher.after_token = 0, fail
    with pytest.raises(UserError, match="went away"):
        s.step()
    assert len(s.state) == n_state and len(s.frames) == n_frames and not s.ended
    teacher.after_token = None
    assert same(s.step(), real.frames[2])

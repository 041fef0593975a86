"""Every failure is one sentence in the app, and the app keeps running."""

from __future__ import annotations

import pytest
from neurodebug.tui.app import NeuroDebugApp, SessionSpec
from neurodebug.tui.widgets import Notice, StatusBar, WhereBar

from neurodebug.real.tracer import Limits, trace_file
from tests.tui.conftest import SIZE, make_app, press, settle
from neurodebug.options import SessionOptions

pytestmark = pytest.mark.asyncio


def one_sentence(text: str) -> bool:
    return bool(text) and "\n" not in text and "Traceback" not in text and text.rstrip().endswith((".", "?", ")"))


async def assert_failure_shown(app, pilot, *words: str) -> str:
    notice = app.query_one(Notice)
    msg = notice.message
    assert one_sentence(msg), msg
    assert notice.has_class("-error") and notice.display
    for w in words:
        assert w in msg, msg
    # the app is alive: keys answer with a sentence, not a crash
    await press(app, pilot, "s")
    assert app.is_running and one_sentence(app.query_one(Notice).message)
    return msg


async def test_file_not_found(tmp_path, replay, calls_trace):
    app = make_app(tmp_path / "nope.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.main.session is None
        await assert_failure_shown(app, pilot, "nope.py")
        assert "real run: not run" in str(app.query_one(StatusBar).render())


async def test_function_not_found(programs, replay, calls_trace):
    app = NeuroDebugApp(SessionSpec(str(programs / "calls.py"), entry="nosuch", call="3", predictor=replay(calls_trace)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.main.session is None
        await assert_failure_shown(app, pilot, "nosuch")
        # the file itself is still shown, without markers
        assert "def add(a, b):" in str(app.query_one("#source-text").content)


async def test_model_missing(programs, tmp_path):
    app = NeuroDebugApp(SessionSpec(str(programs / "calls.py"), call="3", options=SessionOptions(model=str(tmp_path / "no-model"))))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.main.session is None
        await assert_failure_shown(app, pilot, "no-model")


async def test_real_run_crashed(tmp_path, replay):
    path = tmp_path / "dies.py"
    path.write_text(
        "import os, signal\n\n\n"
        "def boom(n):  # << START_OF_TRACE\n"
        "    m = n + 1\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return m\n"
    )
    real = trace_file(path, None, "1")
    assert real.end.reason == "crashed"
    app = make_app(path, replay(real), call="1")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        s = app.main.session
        assert s is not None and s.real is not None
        status = app.query_one(StatusBar)
        assert not status.real_ok and "killed" in status.real
        assert "killed" in str(status.render())
        await press(app, pilot, "c")  # the prediction still runs, next to the partial real trace
        assert s.ended and app.is_running


async def test_real_run_hits_a_limit(programs, replay, monkeypatch):
    limits = Limits(max_frames=20)
    real = trace_file(programs / "spins.py", None, "1", limits)
    assert real.end.reason == "frame_limit"
    # the real run's frame limit is not a session option: the session's real run gets these limits
    monkeypatch.setattr(SessionOptions, "limits", lambda self: limits)
    app = make_app(programs / "spins.py", replay(real), call="1")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        status = app.query_one(StatusBar)
        assert not status.real_ok and "limit of 20 frames" in status.real


async def test_malformed_model_output(programs, cwm_checkpoint):
    # the tiny random checkpoint writes garbage: each frame is kept, marked, and said
    app = NeuroDebugApp(SessionSpec(str(programs / "calls.py"), call="3",
                                    options=SessionOptions(model=str(cwm_checkpoint), max_frame_tokens=24)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        s = app.main.session
        assert s is not None, app.query_one(Notice).message
        assert "local" in str(app.query_one(StatusBar).render())
        await press(app, pilot, "s")
        assert s.current is not None and s.current.malformed
        msg = app.query_one(Notice).message
        assert one_sentence(msg) and "malformed" in msg
        assert "malformed" in str(app.query_one(WhereBar).content)
        assert "?" in str(app.query_one("#timeline").render())
        await press(app, pilot, "b", "q")
        assert not app.is_running


async def test_loading_shows_progress_and_keys_wait(programs, calls_trace, replay):
    import threading

    gate = threading.Event()
    predictor = replay(calls_trace)
    opened = predictor.open

    def slow_open(prompt_ids):  # a model that takes its time to take the prompt
        gate.wait(10)
        return opened(prompt_ids)

    predictor.open = slow_open
    app = make_app(programs / "calls.py", predictor, call="3")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert app.main.busy == "Loading" and "Loading" in str(app.query_one(StatusBar).render())
        await pilot.press("s")
        assert "Loading is under way" in app.query_one(Notice).message
        gate.set()
        await settle(app, pilot)
        assert app.main.session is not None and app.main.session.index == 0 and not app.query_one(Notice).message


async def test_escape_cancels_the_loading(programs, calls_trace, replay):
    import threading

    gate = threading.Event()
    predictor = replay(calls_trace)
    opened = predictor.open

    def slow_open(prompt_ids):
        gate.wait(10)
        return opened(prompt_ids)

    predictor.open = slow_open
    app = make_app(programs / "calls.py", predictor, call="3")
    async with app.run_test(size=SIZE) as pilot:
        while app.main._starting is None:  # the worker has built the session and is starting it
            await pilot.pause(0.05)
        assert app.main.busy == "Loading"
        await pilot.press("escape")
        gate.set()
        await settle(app, pilot)
        # no session, one sentence, and q quits
        assert app.main.session is None and not app.main.busy
        assert app.query_one(Notice).message == "Loading was cancelled; q quits."

"""The TUI on the model that ships in neurodebug/bundled/ (skipped until it is installed)."""

from __future__ import annotations

import pytest
from neurodebug.tui.app import NeuroDebugApp, SessionSpec
from neurodebug.tui.widgets import Notice, StatusBar, WhereBar

from neurodebug.backends import bundled_model
from tests.tui.conftest import SIZE, press, settle
from neurodebug.options import SessionOptions
from neurodebug import options

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(bundled_model() is None, reason="the bundled model is not installed"),
]


async def test_steps_with_the_bundled_model(programs):
    # no --model: the bundled checkpoint; a cap on frames keeps the run short (it caps the real run too:
    # 15 keeps its 15 frames)
    app = NeuroDebugApp(SessionSpec(str(programs / "calls.py"), call="3", options=SessionOptions(max_frames=15)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        s = app.main.session
        assert s is not None, app.query_one(Notice).message
        assert s.current.event == "call" and s.current.locals == {"n": "3"}
        await press(app, pilot, "s")
        assert len(s.frames) == 2 and "step 2" in str(app.query_one(WhereBar).content)
        await press(app, pilot, "c")
        assert s.ended and 2 <= len(s.frames) <= 15
        status = app.query_one(StatusBar)
        assert status.tokens_per_s is not None and status.tokens_per_s > 0
        # the session's speed: frames/s, and fewer forwards per frame than tokens (model/lookahead.py)
        assert status.frames_per_s > 0 and 0 < status.forwards_per_frame < s.speed.tokens_per_frame
        shown = str(status.render())
        assert "frames/s" in shown and f"{status.forwards_per_frame:.1f} fwd/frame" in shown
        assert "returned 12" in status.real
        # whatever the model predicted, each step is on screen or said in one sentence
        for f in s.frames:
            assert f.malformed or f.line is not None
        await press(app, pilot, "b", "q")
        assert not app.is_running


async def test_no_constrain_reaches_the_session(programs):
    import argparse

    from neurodebug.cli import tui as tui_cli

    parser = argparse.ArgumentParser()
    tui_cli.add_arguments(parser)
    assert options.from_args(parser.parse_args(["x.py", "--no-constrain"])).constrain is False
    assert options.from_args(parser.parse_args(["x.py"])).constrain is True
    app = NeuroDebugApp(SessionSpec(str(programs / "calls.py"), call="3",
                                    options=SessionOptions(max_frames=4, constrain=False)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.main.session is not None and app.main.session.constrained is False
        await press(app, pilot, "q")

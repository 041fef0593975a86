"""Snapshots (pytest-textual-snapshot) of the main screens, at a fixed terminal size.

Deterministic: the predictor replays known traces, the programs live at a path given relative
to the working directory, and the status bar's speed (tokens/s, frames/s, forwards per frame)
is masked before the screenshot. Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at
the SVGs in tests/tui/__snapshots__/ before committing them.
"""

from __future__ import annotations

from neurodebug.tui.widgets import StatusBar

from neurodebug.options import SessionOptions
from neurodebug.real.tracer import Limits, trace_file
from tests.tui.conftest import SIZE, make_app, settle, with_mistake


def driven(*keys: str):
    """A run_before for snap_compare: wait for the load, press keys one at a time, mask timing."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(app, pilot)
        for k in keys:
            await pilot.press(k)
            await settle(app, pilot)
        bar = app.query_one(StatusBar)
        bar.tokens_per_s = bar.frames_per_s = bar.forwards_per_frame = None
        await pilot.pause()

    return run_before


def test_agreement(snap_compare, programs, calls_trace, replay, monkeypatch):
    """Inside add(): prediction and real run on the same line, y just changed."""
    monkeypatch.chdir(programs)
    app = make_app("calls.py", replay(calls_trace), call="3")
    assert snap_compare(app, terminal_size=SIZE, run_before=driven("s", "s", "s", "s"))


def test_divergence(snap_compare, programs, calls_trace, replay, monkeypatch):
    """The model believes y = 4 where the real run has y = 3: d jumps there."""
    monkeypatch.chdir(programs)
    app = make_app("calls.py", replay(with_mistake(calls_trace, 4, "y", "4")), call="3")
    assert snap_compare(app, terminal_size=SIZE, run_before=driven("c", "d"))


def test_predicted_exception(snap_compare, programs, replay, monkeypatch):
    """check([1, -2]) raises ValueError: the exception frame, with its value."""
    monkeypatch.chdir(programs)
    real = trace_file(programs / "raises.py", None, "[1, -2]")
    app = make_app("raises.py", replay(real), call="[1, -2]")
    assert snap_compare(app, terminal_size=SIZE, run_before=driven("c", "b"))


def test_failed_real_run(snap_compare, programs, replay, monkeypatch):
    """spin(1) never stops: the real run ends at its frame limit, said in the status line."""
    monkeypatch.chdir(programs)
    limits = Limits(max_frames=20)
    real = trace_file(programs / "spins.py", None, "1", limits)
    # the real run's frame limit is not a session option: the session's real run gets these limits
    monkeypatch.setattr(SessionOptions, "limits", lambda self: limits)
    app = make_app("spins.py", replay(real), call="1")
    assert snap_compare(app, terminal_size=SIZE, run_before=driven("c"))

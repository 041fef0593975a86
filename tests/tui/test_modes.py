"""Without --call (the model proposes the arguments), --no-run, long sources, and the help screen."""

from __future__ import annotations

import io

import pytest
from neurodebug.tui.screens.help import HelpScreen
from neurodebug.tui.widgets import LocalsTable, Notice, SourceView, StatusBar, Timeline, WhereBar
from rich.console import Console

from neurodebug.real.tracer import trace_file
from tests.tui.conftest import SIZE, make_app, press, settle

pytestmark = pytest.mark.asyncio


async def test_without_a_call_the_model_proposes_the_arguments(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        s = app.main.session
        assert s.call == "3" and s.current.event == "call" and s.current.locals == {"n": "3"}
        # the proposal is a literal, so the real run is made on it
        assert s.real is not None and "real run: returned 12" in str(app.query_one(StatusBar).render())
        await press(app, pilot, "c")
        assert s.ended and app.query_one(Timeline).marks == ["agree"] * len(calls_trace.frames)


async def test_no_run_shows_the_prediction_only(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3", run_real=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        s = app.main.session
        assert s.real is None
        status = app.query_one(StatusBar)
        assert status.real_ok and "off" in status.real
        await press(app, pilot, "s", "s")
        rows = app.query_one(LocalsTable).rows_shown
        assert rows and all(r.real is None and not r.differs for r in rows)
        assert "no real trace" in str(app.query_one(WhereBar).content)
        assert set(app.query_one(Timeline).marks) == {"unknown"}
        for key, words in (("d", "no real run"), ("t", "needs a real run"), ("right_square_bracket", "no real trace")):
            await press(app, pilot, key)
            assert words in app.query_one(Notice).message.lower()
        assert app.is_running


async def test_source_view_follows_the_step(tmp_path, replay):
    path = tmp_path / "long.py"
    filler = "".join(f"X{i} = {i}\n" for i in range(60))
    path.write_text(filler + "\n\ndef g(n):  # << START_OF_TRACE\n    m = n * 2\n    return m\n")
    real = trace_file(path, None, "4")
    app = make_app(path, replay(real), call="4")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        view = app.query_one(SourceView)
        await pilot.pause()
        assert view.cursor_line == 63
        top = view.scroll_y
        assert top > 0 and top <= 62 < top + view.scrollable_content_region.height
        await press(app, pilot, "home")
        await pilot.pause()
        assert view.cursor_line == 1 and view.scroll_y == 0
        await press(app, pilot, "s")  # the next step brings the view back to the current line
        await pilot.pause()
        assert view.cursor_line == 64 and view.scroll_y > 0


async def test_edit_on_a_return_frame_says_why_not(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "c", "e")
        assert app.main.session.current.event == "return"
        assert "no variables to edit" in app.query_one(Notice).message


async def test_help_lists_every_key_and_marker(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "question_mark")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        for w in screen.query("Static"):
            console.print(w.content)
        text = console.export_text()
        for words in ("step", "run to the line under the source cursor", "teacher-forced", "Esc",
                      "the line the model predicts runs now", "the line the real run is at", "timeline: differs"):
            assert words in text
        shown = {b.key_display or b.key for b in screen.bindings_shown}
        assert shown == {"s", "n", "o", "b", "c", "u", "e", "r", "d", "[", "]", "t", "R", "x", "a", "?", "q"}
        await press(app, pilot, "question_mark")
        assert not isinstance(app.screen, HelpScreen)


async def test_long_lines_are_cut_not_wrapped(programs, calls_trace, replay):
    # in 80 columns line 9 (a long string) does not fit: it is cut, so line n stays row n
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        text = app.query_one("#source-text")
        n_lines = len(calls_trace.source.rstrip("\n").splitlines())
        assert text.size.height == n_lines

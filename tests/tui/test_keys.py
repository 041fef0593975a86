"""Every key of the TUI, driven with Textual's Pilot on a real session.

The predictor replays the real trace's token encoding (a real Predictor, tests/tui/replay.py), so
the prediction is well formed and known: each test checks the key's effect on the session state
and on what the widgets show.
"""

from __future__ import annotations

import pytest
from neurodebug.tui.screens.edit import EditScreen
from neurodebug.tui.screens.help import HelpScreen
from neurodebug.tui.widgets import LocalsTable, Notice, SourceView, StatusBar, Timeline, ValueDetail, WhereBar
from neurodebug.tui.widgets.source_view import PREDICTED_MARK, REAL_MARK

from tests.tui.conftest import SIZE, make_app, press, settle, with_mistake

pytestmark = pytest.mark.asyncio


def shown(app, widget) -> str:
    """The plain text a Static-like widget shows."""
    w = app.query_one(widget)
    content = w.render() if isinstance(w, (StatusBar, Timeline)) else w.content
    return str(content)


def source_line(app, n: int) -> str:
    return str(app.query_one("#source-text").content).split("\n")[n - 1]


def table_rows(app) -> dict[str, tuple[str, str]]:
    table = app.query_one(LocalsTable)
    out = {}
    for r in range(table.row_count):
        name, p, real = (str(c) for c in table.get_row_at(r))
        out[name] = (p, real)
    return out


async def test_loads_and_shows_the_call_frame(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        s = app.main.session
        assert s is not None and s.index == 0 and s.current.event == "call"
        assert "step 1 of" in shown(app, WhereBar)
        assert "call" in shown(app, WhereBar)
        # predicted and real both at the def line of f (line 7): the "agree" line
        line7 = source_line(app, 7)
        assert line7.startswith(PREDICTED_MARK + REAL_MARK) and "def f(n)" in line7
        assert table_rows(app) == {"n": ("3", "3")}
        status = shown(app, StatusBar)
        assert "replay" in status and "real run: returned 12" in status


async def test_step_and_back(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "s")
        assert app.main.session.index == 1 and app.main.session.current.line == 8
        assert source_line(app, 8).startswith(PREDICTED_MARK + REAL_MARK)
        assert not source_line(app, 7).startswith(PREDICTED_MARK)
        await press(app, pilot, "s")  # into add()
        cur = app.main.session.current
        assert (cur.event, cur.func, cur.depth) == ("call", "add", 1)
        assert "in add()" in shown(app, WhereBar) and "depth 1" in shown(app, WhereBar)
        assert table_rows(app) == {"a": ("3", "3"), "b": ("2", "2")}
        await press(app, pilot, "b")
        assert app.main.session.index == 1 and app.main.session.current.line == 8
        assert "step 2 of" in shown(app, WhereBar)


async def test_next_steps_over_the_call(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "s")  # line 8: t = add(n, 2)
        await press(app, pilot, "n")
        cur = app.main.session.current
        assert cur.depth == 0 and cur.line == 9 and cur.locals["t"] == "5"
        assert table_rows(app)["t"] == ("5", "5")


async def test_out_leaves_the_function(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "s", "s", "s")  # inside add(), line 2
        assert app.main.session.current.func == "add"
        await press(app, pilot, "o")
        cur = app.main.session.current
        # out stops on the return frame of the current function, with the value it returns
        assert (cur.event, cur.func, cur.depth, cur.arg) == ("return", "add", 1, "5")
        where = shown(app, WhereBar)
        assert "return" in where and "→ 5" in where and "in add()" in where
        assert source_line(app, 4).startswith(PREDICTED_MARK + REAL_MARK)


async def test_continue_predicts_to_the_end(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "c")
        s = app.main.session
        assert s.ended and len(s.frames) == len(calls_trace.frames)
        assert s.current.event == "return" and s.current.arg == "12"
        where = shown(app, WhereBar)
        assert f"step {len(s.frames)} of {len(s.frames)}" in where and "so far" not in where
        # every step agrees with the real run
        assert shown(app, Timeline) == "=" * len(calls_trace.frames)


async def test_run_to_the_line_under_the_cursor(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.query_one(SourceView).cursor_line == 7
        await press(app, pilot, "down", "down", "down", "down")  # line 11: t = t + i
        assert app.query_one(SourceView).cursor_line == 11
        await press(app, pilot, "u")
        cur = app.main.session.current
        assert cur.line == 11 and cur.locals["i"] == "0"
        assert source_line(app, 11).startswith(PREDICTED_MARK + REAL_MARK)


async def test_reset_starts_over(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "s", "s", "s")
        assert app.main.session.index == 3
        await press(app, pilot, "r")
        s = app.main.session
        assert s.index <= 0
        assert "step 4" not in shown(app, WhereBar)


async def test_changed_values_and_long_values(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "s", "n", "s")  # line 10: s was just assigned
        table = app.query_one(LocalsTable)
        rows = {r.name: r for r in table.rows_shown}
        assert rows["s"].predicted_changed and not rows["n"].predicted_changed
        long = calls_trace.frames[8].locals["s"]
        cell = table_rows(app)["s"][0]
        assert cell.endswith("…") and len(cell) < len(long)
        # selecting the row shows the whole value
        table.focus()
        table.move_cursor(row=list(rows).index("s"))
        await pilot.pause()
        assert long in shown(app, ValueDetail)


async def test_divergence_is_coloured_and_d_jumps_to_it(programs, calls_trace, replay):
    wrong = with_mistake(calls_trace, 4, "y", "4")  # the model thinks y = 4 at step 5
    app = make_app(programs / "calls.py", replay(wrong), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "c")
        assert "✗" in shown(app, Timeline)
        await press(app, pilot, "d")
        s = app.main.session
        assert s.index == 4 and s.current.locals["y"] == "4"
        rows = {r.name: r for r in app.query_one(LocalsTable).rows_shown}
        assert rows["y"].differs and (rows["y"].predicted, rows["y"].real) == ("4", "3")
        assert not rows["a"].differs
        assert "y" in app.query_one(Notice).message and "step 5" in app.query_one(Notice).message


async def test_shift_r_continues_from_the_real_run_at_the_divergence(programs, calls_trace, replay):
    wrong = with_mistake(calls_trace, 4, "y", "4")  # first the model's mistake; from the real frame, the real run
    app = make_app(programs / "calls.py", replay(wrong, calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "c", "d", "R")
        s = app.main.session
        assert s.index == 4 and s.current.locals["y"] == "3" and s.anchors[0].start == 5
        rows = {r.name: r for r in app.query_one(LocalsTable).rows_shown}
        assert not rows["y"].differs
        await press(app, pilot, "c")
        assert s.ended and s.view().divergence is None and "✗" not in shown(app, Timeline)
        assert [seg.diverged for seg in s.view().segments()] == [1, 0]


async def test_real_trace_moves_independently(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "right_square_bracket", "right_square_bracket")
        assert app.main.session.index == 0  # the prediction did not move
        assert app.main.real_cursor == 2
        where = shown(app, WhereBar)
        assert "real step 3 of 15" in where and "moved with" in where
        assert source_line(app, 1).startswith(" " + REAL_MARK)  # real is in add()'s def line
        assert source_line(app, 7).startswith(PREDICTED_MARK + " ")
        assert table_rows(app)["n"] == ("3", "—")
        await press(app, pilot, "left_square_bracket")
        assert app.main.real_cursor == 1
        await press(app, pilot, "s")  # moving the prediction re-aligns the real cursor
        assert app.main.real_cursor is None and "moved with" not in shown(app, WhereBar)


async def test_teacher_forced_toggle(programs, calls_trace, replay):
    wrong = with_mistake(calls_trace, 4, "y", "4")
    app = make_app(programs / "calls.py", replay(wrong), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "t")
        assert app.main.teacher and app.main.teacher_result is not None
        ok = app.main.teacher_result.ok
        assert ok[4] is False and all(ok[:4])
        assert "teacher-forced" in shown(app, StatusBar)
        assert shown(app, Timeline)[4] == "✗"
        await press(app, pilot, "d")
        assert app.main.real_cursor == 4 and "step 5" in app.query_one(Notice).message
        # teacher-forced, the locals compare the real step with what the model says given the
        # real past: this predictor, having memorised the mistake, says y = 4
        assert "teacher-forced" in app.query_one(LocalsTable).border_title
        assert table_rows(app)["y"] == ("4", "3")
        await press(app, pilot, "left_square_bracket")  # a step the model gets right
        assert table_rows(app) == {"a": ("3", "3"), "b": ("2", "2")}
        await press(app, pilot, "t")
        assert not app.main.teacher and "teacher-forced" not in shown(app, StatusBar)


async def test_escape_cancels_a_teacher_forced_comparison(programs, calls_trace, replay):
    wrong = with_mistake(calls_trace, 4, "y", "4")  # a wrong frame, whose alternative is generated slowly
    app = make_app(programs / "calls.py", replay(wrong, delay_s=0.05), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("t")
        await pilot.pause(0.3)
        assert app.main.busy == "Teacher-forced comparison"
        await pilot.press("escape")
        await settle(app, pilot)
        assert not app.main.busy and not app.main.teacher and app.main.teacher_result is None
        assert "cancelled" in app.query_one(Notice).message
        assert "teacher-forced" not in shown(app, StatusBar)
        await press(app, pilot, "s")  # the session goes on
        assert app.main.session.index == 1


async def test_help_and_quit(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await press(app, pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)
        await press(app, pilot, "q")
        assert not app.is_running


async def test_footer_shows_the_keys(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        keys = {b.key_display or b.key for b in app.main.BINDINGS if b.show}
        assert keys == {"s", "n", "o", "b", "c", "u", "e", "r", "d", "[", "]", "t", "?", "q"}
        footer_text = " ".join(str(k.render()) for k in app.query("FooterKey"))
        for word in ("step", "next", "out", "back", "continue", "edit", "reset", "teacher", "quit"):
            assert word in footer_text


async def test_edit_a_variable_end_to_end(programs, calls_trace, calls_trace_5, replay):
    # the predictor knows f(3) and f(5): after n is set to 5 it follows f(5)
    app = make_app(programs / "calls.py", replay(calls_trace, calls_trace_5), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "e")
        assert isinstance(app.screen, EditScreen)
        assert app.screen.query_one("#edit-name").value == "n"
        assert app.screen.query_one("#edit-value").value == "3"
        await press(app, pilot, *"5", "enter")  # the value is selected: typing replaces it
        assert not isinstance(app.screen, EditScreen)
        s = app.main.session
        # an edited argument re-runs the real code too
        assert s.current.locals["n"] == "5" and s.call == "5"
        assert table_rows(app)["n"] == ("5", "5")
        assert "real run: returned 16" in shown(app, StatusBar)
        await press(app, pilot, "s", "n")  # the model re-predicts from the edited state
        assert s.current.line == 9 and s.current.locals["t"] == "7"
        assert table_rows(app)["t"] == ("7", "7")

        # an edit inside the function: the value now differs from the real run, and what
        # follows is predicted again from the edited state (which this predictor never saw:
        # it ends the trace there)
        await press(app, pilot, "e")
        app.screen.query_one("#edit-name").value = "t"
        app.screen.query_one("#edit-value").value = "100"
        app.screen.query_one("#edit-value").focus()
        await press(app, pilot, "enter")
        assert s.current.locals["t"] == "100" and len(s.frames) == 5
        rows = {r.name: r for r in app.query_one(LocalsTable).rows_shown}
        assert rows["t"].differs and (rows["t"].predicted, rows["t"].real) == ("100", "7")
        await press(app, pilot, "s")
        assert s.ended and len(s.frames) == 5
        assert "end" in shown(app, WhereBar)


async def test_edit_escape_changes_nothing(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "e", "9", "escape")
        assert not isinstance(app.screen, EditScreen)
        assert app.main.session.current.locals["n"] == "3"


async def test_edit_a_bad_value_is_one_sentence(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "e", *"(1,", "enter")
        msg = app.query_one(Notice).message
        assert msg and "\n" not in msg and "Traceback" not in msg
        assert app.query_one(Notice).has_class("-error")
        assert app.main.session.current.locals["n"] == "3"


async def test_escape_cancels_a_prediction(programs, calls_trace, replay):
    slow = replay(calls_trace, delay_s=0.01)
    app = make_app(programs / "calls.py", slow, call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        await pilot.pause(0.3)
        assert app.main.busy  # still predicting: the interface answered the next key
        assert "Escape cancels" in shown(app, StatusBar)
        await pilot.press("s")  # one command at a time
        assert "Continue is under way" in app.query_one(Notice).message
        await pilot.press("escape")
        await settle(app, pilot)
        s = app.main.session
        assert not app.main.busy and not s.ended
        assert 0 < len(s.frames) < len(calls_trace.frames)
        assert "cancelled" in app.query_one(Notice).message
        # the session is still usable after the cancel
        before = s.index
        await press(app, pilot, "b")
        assert s.index == before - 1


async def test_work_finishing_under_the_help_screen(programs, calls_trace, replay):
    app = make_app(programs / "calls.py", replay(calls_trace, delay_s=0.002), call="3")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen) and app.main.busy
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running and app.main.session.ended
        await press(app, pilot, "escape")
        assert f"step {len(calls_trace.frames)} of {len(calls_trace.frames)}" in shown(app, WhereBar)

"""The value detail shows an object without ``__repr__`` attribute by attribute, predicted beside
real, in the real TUI on a real session (the model replays the real run with one planted mistake)."""

from __future__ import annotations

import textwrap

import pytest
from neurodebug.tui.widgets import LocalsTable, ValueDetail

from neurodebug.real.tracer import trace_file
from tests.tui.conftest import SIZE, make_app, press, settle, with_mistake

pytestmark = pytest.mark.asyncio

PROGRAM = '''
    class Stack:
        def __init__(self):
            self.items = []
            self.owner = "ada"


    def run(n):  # << START_OF_TRACE
        s = Stack()
        s.items.append(n)
        s.items.append(n + 1)
        return s
'''


async def test_value_detail_lists_an_objects_attributes_one_a_line(tmp_path, replay):
    path = tmp_path / "stack.py"
    path.write_text(textwrap.dedent(PROGRAM).lstrip())
    trace = trace_file(path, None, "1")
    step = next(k for k, f in enumerate(trace.frames) if f.event == "line" and f.line == 11)
    assert trace.frames[step].locals["s"] == "Stack(items=[1, 2], owner='ada')"
    wrong = with_mistake(trace, step, "s", "Stack(items=[1, 3], owner='ada')")
    app = make_app(path, replay(wrong), call="1")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await press(app, pilot, "n", "n", "n", "n")
        assert app.main.session.current.line == 11
        table = app.query_one(LocalsTable)
        table.focus()
        table.move_cursor(row=[r.name for r in table.rows_shown].index("s"))
        await pilot.pause()
        detail = str(app.query_one(ValueDetail).content)
        assert detail.split("\n") == ["s  Stack", "  items  [1, 3]  real [1, 2]", "  owner  'ada'"]

"""How sure the model was, in the TUI, on the bundled model (real probabilities): unsure values
marked in the locals table, x runs to the next unsure step, the where bar says how likely the
prediction is still on the real path, a lists the alternatives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neurodebug.backends import make_predictor
from neurodebug.confidence import unsure
from neurodebug.tui.widgets import LocalsTable, Notice, WhereBar
from neurodebug.tui.widgets.locals_table import UNSURE_MARK
from tests.tui.conftest import SIZE, make_app, press, settle

pytestmark = pytest.mark.asyncio

COUNT_CHAR = Path(__file__).resolve().parents[2] / "examples" / "count_char.py"


@pytest.fixture(scope="module")
def bundled():
    return make_predictor()


async def test_x_stops_on_an_unsure_step_marked_in_the_table_and_a_lists_alternatives(bundled):
    # 0.9: count('strawberry', 'r') has steps under it (the model hesitates over which letter comes)
    app = make_app(COUNT_CHAR, bundled, seed=0, unsure_below=0.9, max_frames=40, run_real=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for _ in range(10):  # each unsure step in turn, to one whose locals write a value in full
            await press(app, pilot, "x")
            s = app.main.session
            assert unsure(s.current.confidence, 0.9) and not s.ended
            table = app.query_one(LocalsTable)
            marked = [r for r in table.rows_shown if unsure(r.confidence, 0.9)]
            if marked:
                break
        assert marked, table.rows_shown  # the value the model doubted is in the table ...
        where = str(app.query_one(WhereBar).content)
        assert re.search(r"on track \d+%", where), where  # ... and the where bar says how likely it is still right
        row = next(i for i, r in enumerate(table.rows_shown) if r is marked[0])
        assert str(table.get_row_at(row)[1]).endswith(UNSURE_MARK)  # ... and marked there
        table.move_cursor(row=row)
        await press(app, pilot, "a")
        said = app.query_one(Notice).message
        assert said.startswith(f"{marked[0].name}: ") and "%" in said, said

"""The locals pane: one row per variable with its predicted and its real value.

A row whose predicted and real values differ is coloured; a value that changed on this step is
emphasised; a long value is shortened here and shown whole (in the value detail) when its row is
selected.
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable

from neurodebug.trace.format import shorten
from neurodebug.tui.present import LocalRow, Shown

#: Longest value shown in a cell before the table knows its width; longer ones end in an ellipsis.
MAX_CELL = 28
#: A predicted value the model gave at least this is shown plainly; below, dimmed; below the
#: session's unsure_below, also marked with UNSURE_MARK.
SURE = 0.9
UNSURE_MARK = " ?"
ABSENT = "—"


class LocalsTable(DataTable):
    """Name / predicted / real, with differing rows coloured and changed values emphasised."""

    BORDER_TITLE = "locals"
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "locals-table--differs",
        "locals-table--changed",
        "locals-table--absent",
        "locals-table--unsure",
        "locals-table--doubt",
    }

    class ValueSelected(Message):
        """A row was selected: the whole values, for the detail pane (None: the table is empty)."""

        def __init__(self, row: LocalRow | None) -> None:
            self.row = row
            super().__init__()

    shown: reactive[Shown | None] = reactive(None, init=False)

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self._rows: list[LocalRow] = []

    @property
    def rows_shown(self) -> list[LocalRow]:
        return list(self._rows)

    @property
    def selected(self) -> LocalRow | None:
        if not self._rows:
            return None
        return self._rows[max(0, min(self.cursor_row, len(self._rows) - 1))]

    def watch_shown(self, shown: Shown | None) -> None:
        if shown is not None:
            self.border_title = "locals · teacher-forced" if shown.teacher_forced else "locals"
            self.show(list(shown.rows), shown.unsure_below)

    def show(self, rows: list[LocalRow], unsure_below: float = 0.5) -> None:
        keep = self.selected.name if self.selected else None
        self._rows = list(rows)
        self.clear(columns=True)
        self.add_column("name", key="name")
        self.add_column("predicted", key="predicted")
        self.add_column("real", key="real")
        name_w = max([4] + [len(r.name) for r in rows])
        # two value columns share what the name column and the cell padding leave
        limit = max(8, (self.scrollable_content_region.width - name_w - 7) // 2) if self.size.width else MAX_CELL
        differs = self.get_component_rich_style("locals-table--differs", partial=True)
        changed = self.get_component_rich_style("locals-table--changed", partial=True)
        absent = self.get_component_rich_style("locals-table--absent", partial=True)
        unsure_style = self.get_component_rich_style("locals-table--unsure", partial=True)
        doubt = self.get_component_rich_style("locals-table--doubt", partial=True)

        def shaded(text: Text, confidence: float | None) -> Text:
            """A predicted value shaded by how sure the model was: unsure ones marked with ?."""
            if confidence is not None and confidence < unsure_below:
                text.stylize(unsure_style)
                text.append(UNSURE_MARK, unsure_style)
            elif confidence is not None and confidence < SURE:
                text.stylize(doubt)
            return text

        def cell(value: str | None, was_changed: bool, row_differs: bool) -> Text:
            if value is None:
                return Text(ABSENT, absent)
            text = Text(shorten(value, limit))
            if row_differs:
                text.stylize(differs)
            if was_changed:
                text.stylize(changed)
            return text

        for r in rows:
            name = Text(r.name, differs if r.differs else "")
            self.add_row(
                name,
                shaded(cell(r.predicted, r.predicted_changed, r.differs), r.confidence),
                cell(r.real, r.real_changed, r.differs),
                key=r.name,
            )
        names = [r.name for r in rows]
        differing = [i for i, r in enumerate(rows) if r.differs]
        # the user's own choice while they are in the table; else the first difference, if any
        if keep in names and (self.has_focus or not differing):
            self.move_cursor(row=names.index(keep), animate=False)
        elif differing:
            self.move_cursor(row=differing[0], animate=False)
        self.post_message(self.ValueSelected(self.selected))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self._rows):
            self.post_message(self.ValueSelected(self._rows[event.cursor_row]))

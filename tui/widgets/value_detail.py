"""The whole predicted and real value of the selected variable (the table shortens long ones)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from neurodebug.tui.present import LocalRow
from neurodebug.tui.widgets.locals_table import ABSENT


class ValueDetail(Static):
    """``name``, then the predicted and the real value written in full."""

    BORDER_TITLE = "value"
    COMPONENT_CLASSES = {"value-detail--label", "value-detail--differs"}

    def show(self, row: LocalRow | None) -> None:
        if row is None:
            self.update("")
            return
        label = self.get_component_rich_style("value-detail--label", partial=True)
        differs = self.get_component_rich_style("value-detail--differs", partial=True)
        text = Text()
        text.append(row.name, label)
        text.append("\npredicted ", label)
        text.append(row.predicted if row.predicted is not None else ABSENT)
        text.append("\nreal      ", label)
        text.append(row.real if row.real is not None else ABSENT, differs if row.differs else "")
        self.update(text)

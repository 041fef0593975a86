"""The whole predicted and real value of the selected variable (the table shortens long ones).

An object written with its attributes (``Stack(items=[1, 2])``) is shown one attribute a line,
predicted beside real, as :func:`neurodebug.view.object_rows` pairs them.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from neurodebug.tui.present import LocalRow
from neurodebug.view import ObjectRows, object_rows
from neurodebug.tui.widgets.locals_table import ABSENT


class ValueDetail(Static):
    """``name``, then the predicted and the real value written in full (an object: attribute by attribute)."""

    BORDER_TITLE = "value"
    COMPONENT_CLASSES = {"value-detail--label", "value-detail--differs"}

    def show(self, row: LocalRow | None) -> None:
        if row is None:
            self.update("")
            return
        label = self.get_component_rich_style("value-detail--label", partial=True)
        differs = self.get_component_rich_style("value-detail--differs", partial=True)
        objects = object_rows(row)
        if objects is not None:
            self.update(_object_text(row, objects, label, differs))
            return
        text = Text()
        text.append(row.name, label)
        text.append("\npredicted ", label)
        text.append(row.predicted if row.predicted is not None else ABSENT)
        text.append("\nreal      ", label)
        text.append(row.real if row.real is not None else ABSENT, differs if row.differs else "")
        self.update(text)


def _object_text(row: LocalRow, objects: ObjectRows, label, differs) -> Text:
    """``name  Class``, then ``  attribute  value`` a line, the real value after it where it differs
    (a line each keeps an object with several attributes inside the pane's few lines)."""
    text = Text()
    text.append(row.name + "  ", label)
    text.append(objects.predicted if objects.predicted is not None else ABSENT)
    if objects.real is not None and objects.real != objects.predicted:
        text.append("  real ", label)
        text.append(objects.real, differs)
    width = max(len(a.name) for a in objects.rows) if objects.rows else 0
    for a in objects.rows:
        text.append(f"\n  {a.name.ljust(width)}  ", label)
        text.append(a.predicted if a.predicted is not None else ABSENT)
        if a.differs:
            text.append("  real ", label)
            text.append(a.real, differs)
    return text

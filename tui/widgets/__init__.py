"""The widgets of the TUI, one per module."""

from tui.widgets.locals_table import LocalRow, LocalsTable
from tui.widgets.notice import Notice
from tui.widgets.source_view import SourceView
from tui.widgets.status_bar import StatusBar
from tui.widgets.timeline import Timeline
from tui.widgets.value_detail import ValueDetail
from tui.widgets.where import Where, WhereBar

__all__ = ["LocalRow", "LocalsTable", "Notice", "SourceView", "StatusBar", "Timeline", "ValueDetail", "Where", "WhereBar"]

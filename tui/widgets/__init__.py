"""The widgets of the TUI, one per module. The rows they display live in neurodebug.tui.present."""

from neurodebug.tui.widgets.locals_table import LocalsTable
from neurodebug.tui.widgets.notice import Notice
from neurodebug.tui.widgets.source_view import SourceView
from neurodebug.tui.widgets.status_bar import StatusBar
from neurodebug.tui.widgets.timeline import Timeline
from neurodebug.tui.widgets.value_detail import ValueDetail
from neurodebug.tui.widgets.where import WhereBar

__all__ = ["LocalsTable", "Notice", "SourceView", "StatusBar", "Timeline", "ValueDetail", "WhereBar"]

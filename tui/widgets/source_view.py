"""The source pane: highlighted code, line numbers, the predicted and the real current line.

Two markers in the gutter, each with its own colour (``▶`` predicted, ``●`` real); a line that
both point at gets the "agree" colour. A cursor line (moved with up/down or a click) picks the
target of "run to line".
"""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from neurodebug.tui.present import Shown

PREDICTED_MARK = "▶"
REAL_MARK = "●"


class SourceView(VerticalScroll, can_focus=True):
    """Source with the predicted (``▶``) and real (``●``) current lines and a movable cursor."""

    BORDER_TITLE = "source  ▶ predicted  ● real"

    BINDINGS = [
        Binding("up,k", "cursor_up", "Line up", show=False),
        Binding("down,j", "cursor_down", "Line down", show=False),
        Binding("home", "cursor_first", "First line", show=False),
        Binding("end", "cursor_last", "Last line", show=False),
    ]

    COMPONENT_CLASSES = {
        "source-view--gutter",
        "source-view--predicted",
        "source-view--real",
        "source-view--both",
        "source-view--cursor",
    }

    cursor_line: reactive[int] = reactive(1)
    shown: reactive[Shown | None] = reactive(None, init=False)

    class CursorMoved(Message):
        """The cursor line changed (the target of "run to line")."""

        def __init__(self, line: int) -> None:
            self.line = line
            super().__init__()

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._source = ""
        self._lines: list[Text] = []
        self._predicted: int | None = None
        self._real: int | None = None

    def compose(self):
        yield Static(id="source-text")

    # -- data in -------------------------------------------------------------------------------
    def watch_shown(self, shown: Shown | None) -> None:
        if shown is not None:
            self.border_title = self.BORDER_TITLE if shown.home or not shown.file else \
                f"{shown.file}  ▶ predicted  ● real"
            self.show(shown.source, shown.predicted_line, shown.real_line)

    def show(self, source: str, predicted: int | None, real: int | None) -> None:
        """Show ``source`` with the two current lines; the cursor and the scroll follow the prediction."""
        if source != self._source:
            self._source = source
            code = source.rstrip("\n")
            highlighted = Syntax(code, "python", theme="ansi_dark").highlight(code)
            # highlight() ends the text with a newline of its own: keep one row per source line
            self._lines = list(highlighted.split("\n", allow_blank=True))[: code.count("\n") + 1] if code else []
        self._predicted, self._real = predicted, real
        follow = predicted or real
        if follow:
            self.cursor_line = follow
        self._render_text()
        if follow:
            self.call_after_refresh(self._scroll_to_line, follow)

    @property
    def line_count(self) -> int:
        return len(self._lines)

    # -- rendering -----------------------------------------------------------------------------
    def _render_text(self) -> None:
        if not self.is_mounted:
            return
        width = len(str(max(1, len(self._lines))))
        gutter = self.get_component_rich_style("source-view--gutter")
        styles = {
            "predicted": self.get_component_rich_style("source-view--predicted"),
            "real": self.get_component_rich_style("source-view--real"),
            "both": self.get_component_rich_style("source-view--both"),
        }
        cursor = self.get_component_rich_style("source-view--cursor")
        out = Text(no_wrap=True, overflow="crop", end="")
        for n, code in enumerate(self._lines, start=1):
            is_p, is_r = n == self._predicted, n == self._real
            kind = "both" if is_p and is_r else "predicted" if is_p else "real" if is_r else None
            line = Text(no_wrap=True, end="")
            line.append(PREDICTED_MARK if is_p else " ", styles["both" if is_r else "predicted"] if is_p else gutter)
            line.append(REAL_MARK if is_r else " ", styles["both" if is_p else "real"] if is_r else gutter)
            line.append(f" {n:>{width}} ", cursor if n == self.cursor_line else gutter)
            body = code.copy()
            if kind:
                body.stylize(styles[kind])
                line.append_text(body)
                line.append(" " * max(0, 200 - body.cell_len), styles[kind])
            else:
                line.append_text(body)
            if n > 1:
                out.append("\n")
            out.append_text(line)
        self.query_one("#source-text", Static).update(out)

    def _scroll_to_line(self, line: int) -> None:
        top = self.scroll_y
        height = max(1, self.scrollable_content_region.height)
        if not (top <= line - 1 < top + height):
            self.scroll_to(y=max(0, line - 1 - height // 3), animate=False)

    def watch_cursor_line(self, old: int, new: int) -> None:
        self._render_text()
        self.post_message(self.CursorMoved(new))

    # -- cursor --------------------------------------------------------------------------------
    def _move(self, line: int) -> None:
        if self._lines:
            self.cursor_line = max(1, min(len(self._lines), line))
            self._scroll_to_line(self.cursor_line)

    def action_cursor_up(self) -> None:
        self._move(self.cursor_line - 1)

    def action_cursor_down(self) -> None:
        self._move(self.cursor_line + 1)

    def action_cursor_first(self) -> None:
        self._move(1)

    def action_cursor_last(self) -> None:
        self._move(len(self._lines))

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None:
            self._move(int(self.scroll_y) + offset.y + 1)

"""One sentence saying what went wrong (or what happened); empty when there is nothing to say."""

from __future__ import annotations

from textual.widgets import Static


class Notice(Static):
    """Shows ``message``; the ``-error`` class colours it as a failure."""

    def say(self, message: str, error: bool = False) -> None:
        self.update(message)
        self.set_class(error, "-error")
        self.display = bool(message)

    @property
    def message(self) -> str:
        return str(self.content)

"""pygls's protocol as neurodebug speaks it: typed command arguments, and every request answered.

The commands take positional JSON arguments (the code lenses carry them, the editors send
them); pygls's converter fills in each parameter from its annotation, with the hooks here:
a string stays a string (cattrs would turn 42 into "42"), and a step's action is parsed into
an :class:`Action`. The overrides of pygls's private methods live in
:mod:`neurodebug.lsp.pygls_overrides`.
"""

from __future__ import annotations

import logging
from typing import Any, NewType

import attrs
import cattrs
from pygls.exceptions import JsonRpcContentModified, JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.protocol import default_converter

__all__ = ["ACTIONS", "Action", "QuietExpectedErrors", "RequestFailed", "Text", "converter"]

#: A command argument that must be a JSON string.
Text = NewType("Text", str)

#: step actions -> the Session method that performs them
ACTIONS = {"step": "step", "next": "next", "out": "out", "back": "back", "continue": "cont", "reset": "reset",
           "take_real": "take_real"}


class RequestFailed(JsonRpcException):
    """LSP's RequestFailed: a valid request that could not be carried out (a UserError)."""

    CODE = -32803
    MESSAGE = "Request Failed"


@attrs.frozen
class Action:
    """A debugger action as ``neurodebug.step`` names it: step, next, out, back, continue, reset,
    or run_to:LINE; ``method`` and ``args`` are the Session call that performs it."""

    name: str
    method: str
    args: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: Any) -> Action:
        if not isinstance(text, str):
            raise TypeError(f"The action must be a string, not {type(text).__name__}.")
        if text.startswith("run_to:"):
            try:
                return cls(text, "run_to", (int(text.split(":", 1)[1]),))
            except ValueError:
                raise ValueError(f"Bad action {text!r}: run_to needs a line number, e.g. run_to:12.") from None
        if text not in ACTIONS:
            raise ValueError(f"Unknown action {text!r}; use one of {', '.join(ACTIONS)}, run_to:LINE.")
        return cls(text, ACTIONS[text])


def _text(value: Any, _type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"An argument that should be a string is {type(value).__name__} ({value!r}).")
    return value


def converter() -> cattrs.Converter:
    """pygls's converter, with the hooks for the commands' argument types."""
    c = default_converter()
    c.register_structure_hook(Text, _text)
    c.register_structure_hook(Action, lambda value, _type: Action.parse(value))
    return c


class QuietExpectedErrors(logging.Filter):
    """pygls logs every error response with a traceback. Errors the user caused or chose (a bad
    request, a cancel, an edit, a UserError) already reach the editor as the response: they are
    not logged again; tracebacks stay for bugs. Over TCP, pygls ends the process on `exit` by
    raising SystemExit in asyncio's connection callback, which asyncio logs: the normal way out."""

    EXPECTED = (RequestFailed, JsonRpcInvalidParams, JsonRpcRequestCancelled, JsonRpcContentModified)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.exc_info[0] if record.exc_info else None
        if kind is SystemExit or (kind is not None and issubclass(kind, self.EXPECTED)):
            return False
        if str(record.msg).startswith("Unable to deserialize message"):  # answered by pygls_overrides.Protocol
            record.msg, record.args = "A message's params do not fit its method; it was answered with an error.", ()
        return True

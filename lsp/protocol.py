"""pygls's protocol as neurodebug speaks it: typed command arguments, and every request answered.

The commands take positional JSON arguments (the code lenses carry them, the editors send
them); pygls's converter fills in each parameter from its annotation, with the hooks here:
a string stays a string (cattrs would turn 42 into "42"), and a step's action is parsed into
an :class:`Action`.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, NewType

import attrs
import cattrs
from pygls.exceptions import JsonRpcContentModified, JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.protocol import LanguageServerProtocol, default_converter

#: A command argument that must be a JSON string.
Text = NewType("Text", str)

#: step actions -> the Session method that performs them
ACTIONS = {"step": "step", "next": "next", "out": "out", "back": "back", "continue": "cont", "reset": "reset"}


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


class _Answered:
    """A request that was answered with an error while it was being parsed."""


class Protocol(LanguageServerProtocol):
    """pygls's protocol, plus two things it does not do, each shown by a test:

    * a request whose params do not fit its method gets an InvalidParams error response; pygls
      only logs it and leaves the client waiting
      (tests/lsp/test_server.py::test_malformed_requests_get_errors_and_the_server_lives_on);
    * $/cancelRequest of an executeCommand also stops the session work it started; pygls runs
      the command as an inner handler under another id, which the cancel never reaches
      (tests/lsp/test_cancel.py::test_cancel_request_stops_the_session);
    * the bookkeeping of a handler pygls runs under an id of its own (a command inside
      executeCommand, a notification) is dropped when the handler ends; pygls keeps it forever,
      and with it the handler's result or exception, whose traceback holds the command's session
      (tests/lsp/test_cancel.py::test_cancelled_sessions_are_freed).
    """

    def _execute_handler(self, msg_id, handler, callback, args=None, kwargs=None):
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is not None:
            future.add_done_callback(partial(self._forget, msg_id))

    def _forget(self, msg_id, future) -> None:
        """Drop ``msg_id``'s bookkeeping if it is still ``future`` (a client may reuse an id)."""
        if self._request_futures.get(msg_id) is future:
            del self._request_futures[msg_id]

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if not ("jsonrpc" in data and "id" in data and "method" in data):
                raise
            cause = str(exc.__cause__ or exc).strip().splitlines()[0]
            error = JsonRpcInvalidParams(f"Invalid params for {data['method']}: {cause}")
            self._send_response(data["id"], error=error.to_response_error())
            return _Answered()

    def handle_message(self, message):
        if not isinstance(message, _Answered):
            super().handle_message(message)

    def _handle_cancel_notification(self, msg_id):
        self._server.runner.cancel_request(msg_id)
        super()._handle_cancel_notification(msg_id)


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
        if str(record.msg).startswith("Unable to deserialize message"):  # answered by Protocol
            record.msg, record.args = "A message's params do not fit its method; it was answered with an error.", ()
        return True

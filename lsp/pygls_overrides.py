"""Every place neurodebug's language server overrides a private part of pygls, in one class.

pygls (2.x) leaves three things undone that the server needs. Each override below says which
private pygls behaviour it relies on, which test of ours fails without it, and the upstream
report closest to it; tests/lsp/test_pygls_overrides.py checks each relied-on behaviour directly
against the installed pygls, so an upgrade that changes one fails there, by name, before an
editor notices.

Upstream reports (openlawlibrary/pygls), as found when these were written:

* malformed params: no report asks for the missing error response itself; the closest is
  https://github.com/openlawlibrary/pygls/issues/326 ("Be less strict with wrong LSP types?",
  a message pygls cannot structure is logged as "Unable to deserialize message" and dropped).
* $/cancelRequest: https://github.com/openlawlibrary/pygls/issues/517 ("Pygls handles requests
  that are known to be cancelled": a cancel only cancels the future pygls holds under the
  request's id, and does nothing to work already under way).
* the leaked bookkeeping: no report found; the closest is
  https://github.com/openlawlibrary/pygls/issues/608 (``_result_types`` grows unbounded, the
  same kind of leak in a neighbouring dict of the same class).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol


class _Answered:
    """A request that was answered with an error while it was being parsed."""


class Protocol(LanguageServerProtocol):
    """pygls's protocol with the three overrides, each shown by a test of the server:

    * a request whose params do not fit its method gets an InvalidParams error response
      (:meth:`structure_message`, :meth:`handle_message`;
      tests/lsp/test_server.py::test_malformed_requests_get_errors_and_the_server_lives_on);
    * $/cancelRequest of an executeCommand also stops the session work it started
      (:meth:`_handle_cancel_notification`;
      tests/lsp/test_cancel.py::test_cancel_request_stops_the_session);
    * the bookkeeping of a handler pygls runs under an id of its own is dropped when the handler
      ends (:meth:`_execute_handler`; tests/lsp/test_cancel.py::test_cancelled_sessions_are_freed).
    """

    # -- malformed params --------------------------------------------------------------------

    def structure_message(self, data: dict[str, Any]):
        """Answer a request whose params do not fit its method with InvalidParams.

        Relies on: pygls's readers (``pygls.io_.run``, ``run_async``, ``run_websocket``) parse
        each message with ``json.loads(body, object_hook=protocol.structure_message)`` and pass
        what that returns to ``protocol.handle_message``; for a request whose params cattrs
        cannot structure, ``JsonRPCProtocol.structure_message`` raises a JsonRpcException
        chained (``__cause__``) to cattrs' error, the reader logs it and reads on, and nobody
        answers: the client waits forever. ``_send_response(msg_id, error=ResponseError)``
        sends an error response. Upstream: see the module docstring (pygls#326).
        """
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
        """Skip a request :meth:`structure_message` already answered (see there)."""
        if not isinstance(message, _Answered):
            super().handle_message(message)

    # -- $/cancelRequest -----------------------------------------------------------------------

    def _handle_cancel_notification(self, msg_id):
        """Also cancel the session work that the request ``msg_id`` started.

        Relies on: ``JsonRPCProtocol._handle_notification`` calls
        ``self._handle_cancel_notification(params.id)`` for ``$/cancelRequest``; pygls itself
        only cancels the future it holds under ``msg_id``. workspace/executeCommand is a
        generator handler that runs the command as an inner handler under a fresh uuid, so that
        cancel answers the request but never reaches the command, which runs on. The runner
        knows its jobs by the request id and stops the session's work. Upstream: see the module
        docstring (pygls#517).
        """
        self._server.runner.cancel_request(msg_id)
        super()._handle_cancel_notification(msg_id)

    # -- bookkeeping of inner handlers ----------------------------------------------------------

    def _execute_handler(self, msg_id, handler, callback, args=None, kwargs=None):
        """Drop ``msg_id``'s entry in ``_request_futures`` when its handler ends.

        Relies on: ``JsonRPCProtocol._execute_handler(msg_id, handler, callback, args, kwargs)``
        stores the future of a coroutine, thread or generator handler in
        ``self._request_futures[msg_id]`` before it returns; only a request's response
        (``_send_handler_result``), a cancel or a client's response removes it, so the entries
        of a command inside executeCommand and of every notification handler stay forever, and
        with them the handler's result or exception, whose traceback holds the command's session.
        Upstream: none found (the module docstring names the closest, pygls#608).
        """
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is not None:
            future.add_done_callback(partial(self._forget, msg_id))

    def _forget(self, msg_id, future) -> None:
        """Drop ``msg_id``'s bookkeeping if it is still ``future`` (a client may reuse an id)."""
        if self._request_futures.get(msg_id) is future:
            del self._request_futures[msg_id]

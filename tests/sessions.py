"""Started sessions for the tests: ``Session`` is cheap to build and ``start()`` does the work."""

from __future__ import annotations

from neurodebug.options import SessionOptions
from neurodebug.session import Session


def started(source: str, entry: str | None, call: str | None, predictor, *, path=None, real=None, **options) -> Session:
    """A started Session on ``source`` with ``predictor`` and the SessionOptions ``options``."""
    return Session(source, entry, call, SessionOptions(**options), predictor=predictor, path=path, real=real).start()


def started_file(path, predictor, entry: str | None = None, call: str | None = None, **options) -> Session:
    """A started Session on the file at ``path``."""
    return Session.from_file(path, entry, call, SessionOptions(**options), predictor=predictor).start()

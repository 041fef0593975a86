"""Results belong to one version of one document; one job works on a document at a time.

An edit (or closing the document) drops the document's result and cancels its running job,
so the editor never shows hints computed for text that is no longer there. A new
prediction cancels the one still running and then waits for it to stop; other requests
(steps, setting a local) queue behind the running one. Nothing here knows the protocol.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any


class Cancelled(Exception):
    """The job was cancelled (a newer request, an edit, or the user) before it finished."""


class Job:
    """One unit of session work; cancel() is thread-safe and reaches the session once it exists."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self.reason: str | None = None  # 'user' | 'superseded' | 'edited', the first one wins
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self, reason: str = "user") -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            self._cancelled.set()
            session = self._session
        if session is not None:
            session.cancel()

    def attach(self, session: Any) -> None:
        """The session this job drives; cancelling the job from now on cancels it."""
        with self._lock:
            self._session = session
            cancelled = self._cancelled.is_set()
        if cancelled:
            session.cancel()

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled(f"Cancelled ({self.reason}).")


@dataclass
class Result:
    """A session computed for one version of a document."""

    version: int | None
    session: Any
    function: str
    compared: bool
    snapshot: Any = None  # what the editor shows, copied out of the session when a job ends


@dataclass
class Entry:
    result: Result | None = None
    jobs: list[Job] = field(default_factory=list)  # the running job first, then those waiting
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Store:
    """Per document: its current result and the job running on it."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def _entry(self, uri: str) -> Entry:
        return self._entries.setdefault(uri, Entry())

    def result(self, uri: str, version: int | None) -> Result | None:
        """The result for exactly this version of the document, else None (never a stale one)."""
        entry = self._entries.get(uri)
        if entry is None or entry.result is None or entry.result.version != version:
            return None
        return entry.result

    def any_result(self, uri: str) -> Result | None:
        entry = self._entries.get(uri)
        return entry.result if entry else None

    def store(self, uri: str, result: Result) -> None:
        self._entry(uri).result = result

    def invalidate(self, uri: str, reason: str = "edited") -> bool:
        """Drop the document's result and cancel its job; True when there was something to drop."""
        entry = self._entries.get(uri)
        if entry is None:
            return False
        had = entry.result is not None or bool(entry.jobs)
        entry.result = None
        for job in list(entry.jobs):
            job.cancel(reason)
        return had

    async def run(self, uri: str, work, *, replace: bool, job: Job | None = None):
        """Run ``await work(job)`` as the document's only job.

        replace=True (a new prediction) cancels the running job first; otherwise the call
        waits its turn. A job cancelled while it waited raises Cancelled without running.
        """
        entry = self._entry(uri)
        if replace:
            for other in list(entry.jobs):
                other.cancel("superseded")
        job = job or Job()
        entry.jobs.append(job)
        try:
            async with entry.lock:
                job.check()
                return await work(job)
        finally:
            entry.jobs.remove(job)

    def busy(self, uri: str) -> bool:
        entry = self._entries.get(uri)
        return bool(entry and entry.jobs)

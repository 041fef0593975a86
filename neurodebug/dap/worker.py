"""The adapter's worker: one daemon thread that carries out session work in order.

A daemon thread, unlike those of ``concurrent.futures`` (which the interpreter joins at exit): a
model that is still loading when the client ends the debug session cannot be interrupted, and it
must not keep the adapter's process alive until it is loaded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class Worker:
    """Runs the submitted jobs one at a time, in order, in a daemon thread."""

    def __init__(self, name: str):
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def close(self, wait: bool) -> None:
        """Take no more jobs and drop the queued ones; ``wait``: until the running one has ended."""
        self._closed = True
        self._jobs.put(None)
        if wait:
            self._thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if not self._closed:
                job()

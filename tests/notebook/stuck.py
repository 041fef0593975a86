"""A predictor whose next generation runs until it is cancelled: a long prediction, whatever the model
would predict, for the tests of the kernel's interrupt."""

from __future__ import annotations

import time


class Stuck:
    """Wraps a predictor; while ``armed``, a generation waits for its ``should_stop`` (the session's
    cancel), then disarms. Everything else is the wrapped predictor's."""

    def __init__(self, inner):
        self._inner = inner
        self.armed = True

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def open(self, ids):
        return _State(self._inner.open(ids), self)


class _State:
    def __init__(self, inner, owner: Stuck):
        self._inner, self._owner = inner, owner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __len__(self):
        return len(self._inner)

    def generate(self, *args, should_stop=None, **kw):
        if self._owner.armed and should_stop is not None:
            while not should_stop():
                time.sleep(0.01)
            self._owner.armed = False
        return self._inner.generate(*args, should_stop=should_stop, **kw)

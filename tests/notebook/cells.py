"""A pretend notebook for the in-process tests: cells compiled as IPython compiles them (their code in
linecache under a name that is no file, their functions' __module__ '__main__'), without a kernel."""

from __future__ import annotations

import linecache


class Notebook:
    """A namespace and the code of the cells run so far."""

    def __init__(self):
        self.ns: dict = {"__name__": "__main__"}
        self.history: list[str] = []

    def run(self, code: str) -> "Notebook":
        name = f"<pretend-cell-{len(self.history) + 1}>"
        linecache.cache[name] = (len(code), None, code.splitlines(keepends=True), name)
        exec(compile(code, name, "exec"), self.ns)
        self.history.append(code)
        return self

"""The notebook front end: ``%load_ext neurodebug``, then ``w = %neurodebug f(3)`` (docs/notebook.md).

``%neurodebug CALL`` debugs a call of a function defined in an earlier cell (or imported from a
file): the model's predicted execution beside the real run, isolated in neurodebug's child
process; ``%%neurodebug [CALL]`` the code of its own cell. Both show a widget and return a
:class:`neurodebug.notebook.widget.Debugger` (``w.step()``, ``w.back()``, ``w.session``).

Importing this package imports nothing heavy: IPython, ipywidgets and the session load when the
extension is loaded (the ``notebook`` extra brings them).
"""

from __future__ import annotations

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython) -> None:
    """Register ``%neurodebug`` and ``%%neurodebug`` (``%load_ext neurodebug`` delegates here)."""
    from neurodebug.notebook.magics import register

    register(ipython)


def unload_ipython_extension(ipython) -> None:
    from neurodebug.notebook.magics import unregister

    unregister(ipython)

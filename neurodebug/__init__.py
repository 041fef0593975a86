"""neurodebug: a neural debugger for Python over CWM-style execution traces.

``from neurodebug import Session, SessionOptions`` is the Python API (docs/python-api.md); the
two are imported on first use, so that ``import neurodebug`` stays light.
"""

__version__ = "0.1.0"
__all__ = ["Session", "SessionOptions", "__version__", "load_ipython_extension"]


def load_ipython_extension(ipython) -> None:
    """``%load_ext neurodebug``: the notebook magics (neurodebug/notebook, the notebook extra)."""
    from neurodebug.notebook import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str):
    if name == "Session":
        from neurodebug.session import Session

        return Session
    if name == "SessionOptions":
        from neurodebug.options import SessionOptions

        return SessionOptions
    raise AttributeError(f"module 'neurodebug' has no attribute {name!r}")

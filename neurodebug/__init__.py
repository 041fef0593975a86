"""neurodebug: a neural debugger for Python over CWM-style execution traces."""

__version__ = "0.1.0"

"""`neurodebug corpus --out DIR`: the training corpus of real functions run on generated inputs.

Functions of pip-installable packages (the `train` extra) and of the standard library, each made
a self-contained program and traced by the real tracer on inputs from its doctests, hints and
parameter names, plus generated programs over the built-in types; split by package into training
traces and the held-out suite (see neurodebug/training/corpus.py).
"""

from __future__ import annotations

# The training code is light to import (no torch at module level), and the parser asks for its
# arguments anyway: its own add_arguments and run are the subcommand's.
from neurodebug.training.corpus import add_arguments, run  # noqa: F401

NAME = "corpus"
HELP = "build the training corpus of real functions traced on generated inputs (CWM's recipe)"
ORDER = 44


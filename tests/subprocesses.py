"""The environment of a `python -m neurodebug ...` child process that a test starts."""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root (the checkout under test).
ROOT = Path(__file__).resolve().parents[1]


def neurodebug_env(**extra: str) -> dict[str, str]:
    """This process's environment with the repository first on PYTHONPATH, plus ``extra``: the
    child imports the neurodebug under test whatever its working directory."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env

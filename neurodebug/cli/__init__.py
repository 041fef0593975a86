"""The `neurodebug` command.

Each subcommand lives in its own module in this package and defines:
    NAME: str, HELP: str, add_arguments(parser), run(args) -> int
Modules must keep heavy imports (torch, textual, pygls) inside run(), so that
`neurodebug --help` stays fast and the core stays importable without torch.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from neurodebug import __version__
from neurodebug.errors import UserError


def _commands():
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return sorted(mods, key=lambda m: getattr(m, "ORDER", 50))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurodebug",
        description="A neural debugger for Python: CWM's predicted execution next to the real one.",
    )
    parser.add_argument("--version", action="version", version=f"neurodebug {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as e:
        print(f"neurodebug: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurodebug: interrupted.", file=sys.stderr)
        return 130

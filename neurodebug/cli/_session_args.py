"""Options shared by `predict`, `compare` and `debug`: the file, the call, the model, sampling."""

from __future__ import annotations

import argparse

from neurodebug.errors import UserError


def add_session_arguments(p: argparse.ArgumentParser, call_required: bool = False) -> None:
    """FILE, --call, --entry, and every session option but the real run's (SessionOptions)."""
    from neurodebug import options

    p.set_defaults(_call_required=call_required)
    p.add_argument("file", metavar="FILE", help="the Python file")
    p.add_argument("--call", metavar="EXPR",
                   help="the call: \"f('strawberry', 'r')\" or just the arguments \"'strawberry', 'r'\" "
                        "(default: the '# neurodebug: f(...)' comment above the entry's def"
                        + ("" if call_required else ", else the model proposes the arguments") + ")")
    p.add_argument("--entry", metavar="NAME", help="entry function (default: from --call or '# << START_OF_TRACE')")
    options.add_arguments(p, groups=("model", "prediction"))


def add_real_run_arguments(p, recorded: bool = False) -> None:
    """The real run's options (--no-run, --isolation, its limits) for the commands that run the
    program for real; with ``recorded``, --real FILE too."""
    from neurodebug import options

    options.add_arguments(p, groups=("real run",))
    if recorded:
        p.add_argument("--real", metavar="TRACE.json",
                       help="compare with this recorded trace (from `neurodebug trace --json`) instead of running "
                            "the program; implies --no-run")


def call_from_comment(args) -> str | None:
    """The `# neurodebug: f(...)` comment above the entry's def, as `neurodebug trace` reads it."""
    from neurodebug.trace.source import find_call_comment, find_entry, read_source

    try:
        source = read_source(args.file)
    except UserError:
        return None  # Session.from_file says what is wrong with the file
    entry = args.entry or find_entry(source)
    return find_call_comment(source, entry) if entry else None


def recorded_trace(path: str):
    """The Trace in a file written by `neurodebug trace --json`; a bad file is one sentence."""
    from pathlib import Path

    from neurodebug.trace.frames import Trace

    try:
        return Trace.from_json(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"Cannot read the trace {path!r}: {e.strerror or e}.") from None
    except (ValueError, TypeError, KeyError, AttributeError):
        raise UserError(f"{path!r} is not a trace written by `neurodebug trace --json`.") from None


def session_from_args(args, run_real: bool | None = None):
    """The started Session the options describe; it runs the program for real only where the
    command offers --no-run and it was not given (``run_real`` overrides that)."""
    from neurodebug import options
    from neurodebug.session import Session

    real = recorded_trace(args.real) if getattr(args, "real", None) else None
    entry = args.entry or (real.entry if real is not None else None)
    call = args.call if args.call is not None else real.call if real is not None else call_from_comment(args)
    if call is None and getattr(args, "_call_required", False):
        from neurodebug.trace.source import example_call, read_source, resolve_target

        # A wrong path or function name is the first thing to say (one sentence each); an entry
        # without parameters needs no call.
        if resolve_target(args.file, entry)[1] is None:
            example = example_call(read_source(args.file), entry)
            raise UserError(f"No call given: pass --call \"{example}\" or put a '# neurodebug: {example}' comment "
                            f"above the entry's def in {args.file}.")
    if run_real is None:
        run_real = hasattr(args, "option_run_real") and args.option_run_real is None and real is None
    opts = options.from_args(args, run_real=run_real)
    opts.check_isolation()
    return Session.from_file(args.file, entry=entry, call=call, options=opts, real=real).start()


def short_locals(locals_: dict[str, str], width: int = 80, unsure: frozenset = frozenset()) -> str:
    """``k=v, ...`` cut to ``width``; the names in ``unsure`` get the unsure mark after their value."""
    from neurodebug.render import UNSURE_MARK
    from neurodebug.trace.format import shorten

    return shorten(", ".join(f"{k}={v}{UNSURE_MARK if k in unsure else ''}" for k, v in locals_.items()), width)


def frame_line(i: int, f, width: int = 80, home: str | None = None, unsure_below: float | None = None) -> str:
    """One frame as a line of text: step (frame index ``i`` counted from 1), event, line number
    (``b.py:3`` in a file other than ``home``), source, locals or value; with ``unsure_below``,
    the line and the values the model was less sure of end in '?' (``confidence.unsure``)."""
    from neurodebug.confidence import unsure
    from neurodebug.render import UNSURE_MARK, line_label

    doubt = UNSURE_MARK if unsure_below is not None and unsure(f.confidence, unsure_below) else ""
    where = f"{line_label(f, home if home is not None else f.file) + doubt:>4}"
    from neurodebug.trace.format import strip_marker
    from neurodebug.trace.format import shorten

    unsure_names = frozenset(k for k, c in (f.locals_confidence or {}).items()
                             if unsure_below is not None and unsure(c, unsure_below))
    what = f"-> {shorten(f.arg or '', width)}{doubt}" if f.event in ("return", "exception") \
        else short_locals(f.locals, width, unsure_names)
    mark = f"  [malformed: {shorten(f.malformed, width)}]" if f.malformed else ""

    return f"{i + 1:>4} {f.event:<9} {where}  {'  ' * f.depth}{strip_marker(f.source).strip()}    {what}{mark}"

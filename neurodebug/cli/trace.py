"""`neurodebug trace FILE --call EXPR`: record the real execution and show it."""

from __future__ import annotations

import sys

NAME = "trace"
HELP = ("Run a function for real (isolated with bubblewrap where it can start, under time, memory and output "
        "limits) and show its execution trace in CWM's format.")
ORDER = 10


def add_arguments(p) -> None:
    from neurodebug import options
    from neurodebug.render import ROWS
    from neurodebug.real.tracer import Limits

    d = Limits()
    p.add_argument("file", metavar="FILE", help="the Python file to trace")
    p.add_argument("--call", metavar="EXPR",
                   help="arguments (\"'strawberry', 'r'\") or a call (\"f('strawberry', 'r')\"); default: the "
                        "'# neurodebug: f(...)' comment above the entry, else no arguments")
    p.add_argument("--entry", metavar="NAME", help="the function to trace (default: the one marked '# << START_OF_TRACE')")
    p.add_argument("--json", action="store_true", help="print the trace as JSON (locals in CWM's wire form, with '..'; "
                                                       "every frame)")
    p.add_argument("--rows", type=int, default=ROWS, metavar="N",
                   help=f"show at most N frames in the table: the first and the last ones, and how many are left "
                        f"out between (default {ROWS}; 0 shows all)")
    options.add_arguments(p, groups=("real run",), exclude=("run_real",))  # --isolation, --wall, --cpu, --memory
    p.add_argument("--max-frames", type=int, default=d.max_frames, metavar="N", help=f"frames to record ({d.max_frames})")
    p.add_argument("--max-repr", type=int, default=d.max_repr, metavar="N",
                   help=f"characters of one value before it is cut ({d.max_repr})")
    p.add_argument("--max-output", type=int, default=d.max_output, metavar="BYTES",
                   help=f"captured stdout/stderr kept, each ({d.max_output})")
    p.add_argument("--disk", type=int, default=d.disk_mb, metavar="MB",
                   help=f"isolated: size of the private scratch dir and /tmp, and of /dev/shm ({d.disk_mb} MB)")


def run(args) -> int:
    from dataclasses import replace

    from neurodebug import options
    from neurodebug.errors import UserError
    from neurodebug.real.tracer import trace_file
    from neurodebug.trace.frames import RECORDED

    for flag, value in (("--max-frames", args.max_frames), ("--max-repr", args.max_repr),
                        ("--max-output", args.max_output), ("--disk", args.disk)):
        if value <= 0:
            raise UserError(f"{flag} must be positive, not {value:g}.")
    if args.rows < 0:
        raise UserError("--rows must be 0 (all) or more.")
    limits = replace(options.from_args(args).limits(), max_frames=args.max_frames, max_repr=args.max_repr,
                     max_output=args.max_output, disk_mb=args.disk)
    trace = trace_file(args.file, args.entry, args.call, limits)
    if trace.end.reason not in RECORDED:
        raise UserError(trace.end.message)
    if args.json:
        sys.stdout.write(trace.to_json(wire=True, indent=1) + "\n")
        return 0
    from rich.console import Console

    from neurodebug.render import trace_view

    Console().print(trace_view(trace, rows=args.rows))
    return 0

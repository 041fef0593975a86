"""`neurodebug trace FILE --call EXPR`: record the real execution and show it."""

from __future__ import annotations

import sys

NAME = "trace"
HELP = ("Run a function for real (isolated with bubblewrap where it can start, under time, memory and output "
        "limits) and show its execution trace in CWM's format.")
ORDER = 10


def add_arguments(p) -> None:
    from neurodebug.cli._session_args import add_isolation_argument
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
    p.add_argument("--wall", type=float, default=d.wall_s, metavar="S", help=f"wall-time limit in seconds ({d.wall_s:g})")
    p.add_argument("--cpu", type=float, default=d.cpu_s, metavar="S", help=f"CPU-time limit in seconds ({d.cpu_s:g})")
    p.add_argument("--memory", type=int, default=d.memory_mb, metavar="MB", help=f"address-space limit ({d.memory_mb} MB)")
    p.add_argument("--max-frames", type=int, default=d.max_frames, metavar="N", help=f"frames to record ({d.max_frames})")
    p.add_argument("--max-repr", type=int, default=d.max_repr, metavar="N",
                   help=f"characters of one value before it is cut ({d.max_repr})")
    p.add_argument("--max-output", type=int, default=d.max_output, metavar="BYTES",
                   help=f"captured stdout/stderr kept, each ({d.max_output})")
    add_isolation_argument(p)
    p.add_argument("--disk", type=int, default=d.disk_mb, metavar="MB",
                   help=f"isolated: size of the private scratch dir and /tmp, and of /dev/shm ({d.disk_mb} MB)")


def run(args) -> int:
    from neurodebug.errors import UserError
    from neurodebug.real.tracer import Limits, trace_file
    from neurodebug.trace.frames import RECORDED

    for flag, value in (("--wall", args.wall), ("--cpu", args.cpu), ("--memory", args.memory),
                        ("--max-frames", args.max_frames), ("--max-repr", args.max_repr),
                        ("--max-output", args.max_output), ("--disk", args.disk)):
        if value <= 0:
            raise UserError(f"{flag} must be positive, not {value:g}.")
    if args.rows < 0:
        raise UserError("--rows must be 0 (all) or more.")
    limits = Limits(wall_s=args.wall, cpu_s=args.cpu, memory_mb=args.memory, max_frames=args.max_frames,
                    max_repr=args.max_repr, max_output=args.max_output, isolation=args.isolation, disk_mb=args.disk)
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

"""`neurodebug tui FILE --call EXPR`: step through the predicted execution next to the real one."""

from __future__ import annotations

import sys

NAME = "tui"
HELP = ("Step through the model's predicted execution next to the real one, in the terminal (the program runs "
        "for real, isolated and under limits, unless --no-run).")
ORDER = 40


def add_arguments(p) -> None:
    from neurodebug.cli._session_args import add_constrain_argument, add_real_run_arguments

    p.add_argument("file", help="Python file to debug")
    p.add_argument("--entry", help="function to trace (default: the one marked '# << START_OF_TRACE')")
    p.add_argument("--call", help="arguments or call, e.g. \"'strawberry', 'r'\" or \"f('strawberry', 'r')\"; "
                                  "without it the model proposes them")
    p.add_argument("--model", help="checkpoint directory or Hugging Face repo id (default: the bundled model)")
    p.add_argument("--backend", default="local", choices=["local", "transformers", "http"], help="how to run the model")
    p.add_argument("--url", help="model server URL for --backend http")
    p.add_argument("--device", default="cpu", help="torch device for local backends (cpu, cuda)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0: greedy)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold")
    p.add_argument("--seed", type=int, default=None, help="sampling seed")
    p.add_argument("--max-frames", type=int, default=500, help="most steps the model predicts")
    add_constrain_argument(p)
    add_real_run_arguments(p)


def run(args) -> int:
    from neurodebug.cli._session_args import real_limits
    from neurodebug.tui.app import NeuroDebugApp, SessionSpec

    spec = SessionSpec(
        path=args.file,
        entry=args.entry,
        call=args.call,
        model=args.model,
        backend=args.backend,
        url=args.url,
        device=args.device,
        run_real=not args.no_run,
        lookahead=not getattr(args, "no_lookahead", False),
        session_kw={"temperature": args.temperature, "top_p": args.top_p, "seed": args.seed,
                    "max_frames": args.max_frames, "constrain_source": not args.no_constrain,
                    "limits": None if args.no_run else real_limits(args)},
    )
    app = NeuroDebugApp(spec)
    app.run()
    main = app.main
    if main is not None and main.session is None and main.failure:
        # the screen is gone once the app exits: repeat why there was nothing to debug
        print(f"neurodebug: {main.failure}", file=sys.stderr)
        return 2
    return 0

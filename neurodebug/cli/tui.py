"""`neurodebug tui FILE --call EXPR`: step through the predicted execution next to the real one."""

from __future__ import annotations

import sys

NAME = "tui"
HELP = ("Step through the model's predicted execution next to the real one, in the terminal (the program runs "
        "for real, isolated and under limits, unless --no-run).")
ORDER = 40


def add_arguments(p) -> None:
    from neurodebug.cli._session_args import add_real_run_arguments, add_session_arguments

    add_session_arguments(p)
    add_real_run_arguments(p)


def run(args) -> int:
    from neurodebug import options
    from neurodebug.cli._session_args import call_from_comment
    from neurodebug.tui.app import NeuroDebugApp, SessionSpec

    opts = options.from_args(args)
    opts.check_isolation()
    call = args.call if args.call is not None else call_from_comment(args)
    app = NeuroDebugApp(SessionSpec(path=args.file, entry=args.entry, call=call, options=opts))
    app.run()
    main = app.main
    if main is not None and main.session is None and main.failure:
        # the screen is gone once the app exits: repeat why there was nothing to debug
        print(f"neurodebug: {main.failure}", file=sys.stderr)
        return 2
    return 0

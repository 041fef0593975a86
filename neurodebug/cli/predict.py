"""`neurodebug predict FILE --call EXPR`: the model's predicted execution, frames printed as they come."""

from __future__ import annotations

import json
import sys

from neurodebug.cli._session_args import add_session_arguments, frame_line, session_from_args
from neurodebug.trace.context import call_text

NAME = "predict"
HELP = "predict a function's execution with the model, frame by frame (the program never runs)"
ORDER = 20


def add_arguments(p) -> None:
    add_session_arguments(p)
    p.add_argument("--json", action="store_true", help="print the predicted trace as JSON at the end")


def run(args) -> int:
    s = session_from_args(args, run_real=False)  # predict never runs the program
    out = sys.stdout
    home = s.frames[0].file if s.frames else None  # line numbers of other files name their file
    if not args.json:
        print(f"# {s.predictor.name}; {call_text(s.entry, s.call)}", file=out)
        if s.current is not None:
            print(frame_line(0, s.current, home=home, unsure_below=s.options.unsure_below), file=out, flush=True)
    try:
        while not s.ended:
            n = len(s.frames)
            s.step()
            if not args.json:
                for i in range(n, len(s.frames)):
                    print(frame_line(i, s.frames[i], home=home, unsure_below=s.options.unsure_below), file=out,
                          flush=True)
            if len(s.frames) == n and not s.ended:
                break
    except KeyboardInterrupt:
        s.cancel()
    if args.json:
        d = s.predicted_trace().to_json_dict(wire=False)
        d["model"] = s.predictor.name
        d["speed"] = s.speed.to_dict()
        json.dump(d, out, ensure_ascii=False, indent=1)
        print(file=out)
    else:
        print(f"# {s.end.reason}: {s.end.message}", file=out)
        if s.speed.frames:
            print(f"# {s.speed.line()}", file=out)
    return 0

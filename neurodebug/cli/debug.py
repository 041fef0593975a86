"""`neurodebug debug FILE --call EXPR`: a pdb-style prompt over a predicted execution.

Commands: s(tep), n(ext), o(ut), b(ack), c(ontinue), until LINE, p [name], set name = value,
reset, w(here), q(uit), h(elp). The real frame is shown beside the predicted one when the
real run exists.
"""

from __future__ import annotations

import sys

from neurodebug.cli._session_args import add_real_run_arguments, add_session_arguments, session_from_args, short_locals
from neurodebug.errors import UserError

NAME = "debug"
HELP = ("step through the model's predicted execution with a pdb-style prompt, beside the real run "
        "(the program runs for real, isolated and under limits, unless --no-run)")
ORDER = 22

HELP_TEXT = """\
s, step          next frame, into calls
n, next          next frame in this function (a call's result is predicted directly)
o, out           to the return of the current function
b, back          undo one frame
c, continue      to the end of the trace
until LINE       to the next frame at LINE
p [name]         print the predicted locals (and the real ones)
set name = value give a local a new value and predict again from there
reset            drop the prediction and sample again
w, where         show the current frame again
q, quit          leave"""


def add_arguments(p) -> None:
    add_session_arguments(p)
    add_real_run_arguments(p)


def show(s, out) -> None:
    f = s.current
    if f is None:
        print("(no frame)", file=out)
        return
    from neurodebug.trace.format import strip_marker
    from neurodebug.trace.format import shorten

    where = f.line if f.line is not None else "?"
    print(f"[{s.index + 1}] -> {where}: {strip_marker(f.source).strip()}   ({f.event}, depth {f.depth})", file=out)
    if f.event in ("return", "exception"):
        print(f"     predicted {'returns' if f.event == 'return' else 'raises'} {shorten(f.arg or '', 200)}", file=out)
    else:
        print(f"     predicted: {short_locals(f.locals, 200)}", file=out)
    if f.malformed:
        print(f"     (malformed frame: {shorten(f.malformed, 200)})", file=out)
    r = s.real_frame(s.index)
    if s.real is not None:
        if r is None:
            print("     real:      (the real run has no frame here)", file=out)
        else:
            same = (r.event, r.line, r.locals, r.arg) == (f.event, f.line, f.locals, f.arg)
            body = f"-> {shorten(r.arg or '', 200)}" if r.event in ("return", "exception") else short_locals(r.locals, 200)
            print(f"     real:      line {r.line} ({r.event}) {body}{'' if same else '   <- differs'}", file=out)
    if s.ended:
        print(f"     (end: {s.end.message})", file=out)


def run(args) -> int:
    s = session_from_args(args)
    out = sys.stdout
    print(f"neurodebug debug: {s.entry}({s.call if s.call is not None else '?'}) with {s.predictor.name}", file=out)
    if s.real_note:
        print(f"(real run: {s.real_note})", file=out)
    show(s, out)
    ops = {"s": s.step, "step": s.step, "n": s.next, "next": s.next, "o": s.out, "out": s.out,
           "b": s.back, "back": s.back, "c": s.cont, "continue": s.cont, "cont": s.cont}
    while True:
        try:
            print("(nd) ", end="", file=out, flush=True)
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            print(file=out)
            continue
        if not line:
            print(file=out)
            return 0
        cmd = line.strip()
        if not cmd:
            continue
        word, _, rest = cmd.partition(" ")
        rest = rest.strip()
        try:
            if word in ("q", "quit", "exit"):
                return 0
            if word in ("h", "help", "?"):
                print(HELP_TEXT, file=out)
            elif word in ops:
                try:
                    ops[word]()
                except KeyboardInterrupt:
                    s.cancel()
                show(s, out)
            elif word in ("until", "unt", "u"):
                if not rest.isdigit():
                    raise UserError("until needs a line number, e.g. until 12.")
                s.run_to(int(rest))
                show(s, out)
            elif word in ("p", "print"):
                f = s.current
                loc = f.locals if f is not None else {}
                real = s.real_frame(s.index)
                if rest:
                    if rest not in loc:
                        print(f"No such variable: {rest}", file=out)
                    else:
                        print(loc[rest], file=out)
                    if real is not None and rest in real.locals:
                        print(f"  (real: {real.locals[rest]})", file=out)
                else:
                    print(loc, file=out)
                    if real is not None:
                        print(f"  (real: {real.locals})", file=out)
            elif word == "set":
                name, eq, value = rest.partition("=")
                if not eq:
                    raise UserError("Write set NAME = VALUE, e.g. set n = 5.")
                s.set_local(name.strip(), value.strip())
                show(s, out)
            elif word == "reset":
                s.reset()
                show(s, out)
            elif word in ("w", "where"):
                show(s, out)
            else:
                print(f"Unknown command {word!r}; h for help.", file=out)
        except UserError as e:
            print(f"*** {e}", file=out)

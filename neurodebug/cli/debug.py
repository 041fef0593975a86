"""`neurodebug debug FILE --call EXPR`: a pdb-style prompt over a predicted execution.

Commands: s(tep), n(ext), o(ut), b(ack), c(ontinue), until LINE, frame N, p [name],
set name = value, reset, w(here), l(ist), q(uit), h(elp). The real frame is shown beside the
predicted one when the real run exists. Built on :class:`cmd.Cmd`, as pdb is: ``help CMD``
prints the command's docstring, and an empty line repeats the last move.
"""

from __future__ import annotations

import cmd
import inspect
import sys

from neurodebug.cli._session_args import add_real_run_arguments, add_session_arguments, session_from_args, short_locals
from neurodebug.confidence import unsure
from neurodebug.errors import UserError
from neurodebug.render import UNSURE_MARK
from neurodebug.trace.context import call_text
from neurodebug.view import sure_text

NAME = "debug"
HELP = ("step through the model's predicted execution with a pdb-style prompt, beside the real run "
        "(the program runs for real, isolated and under limits, unless --no-run)")
ORDER = 22

#: Lines shown before and after the current one by ``list``.
LIST_CONTEXT = 5


def add_arguments(p) -> None:
    add_session_arguments(p)
    add_real_run_arguments(p)


def show(s, out) -> None:
    f = s.current
    if f is None:
        print("(no frame)", file=out)
        return
    from neurodebug.trace.format import shorten, strip_marker

    where = f.line if f.line is not None else "?"
    below = s.options.unsure_below
    sure = "" if f.confidence is None else f", {sure_text(f.confidence)}" + (UNSURE_MARK if unsure(f.confidence, below) else "")
    track = s.view().on_track(s.index)
    sure += "" if track is None else f", on track {100 * track:.0f}%"
    print(f"[{s.index + 1}] -> {where}: {strip_marker(f.source).strip()}   ({f.event}, depth {f.depth}{sure})", file=out)
    if f.event in ("return", "exception"):
        print(f"     predicted {'returns' if f.event == 'return' else 'raises'} {shorten(f.arg or '', 200)}", file=out)
    else:
        doubted = frozenset(k for k, c in (f.locals_confidence or {}).items() if unsure(c, below))
        print(f"     predicted: {short_locals(f.locals, 200, doubted)}", file=out)
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
        for sentence in s.view().segment_sentences():
            print(f"     {sentence}", file=out)


class Debugger(cmd.Cmd):
    """The prompt over a started :class:`neurodebug.session.Session`.

    Each ``do_*`` method is a command; the first line of its docstring is its line in ``help``
    (:data:`HELP_ORDER` orders them), the rest is what ``help CMD`` adds. A session error
    (:class:`UserError`) is printed as ``*** sentence``; Ctrl-C during a move cancels it and
    shows where the session stopped, Ctrl-C at the prompt gives a new prompt.
    """

    prompt = "(nd) "
    #: Commands an empty line repeats (pdb repeats any; here only the moves, never set or reset).
    REPEATABLE = frozenset({"s", "step", "n", "next", "o", "out", "b", "back", "c", "continue", "cont",
                            "until", "unt", "u"})
    #: The order of the command lines in ``help``.
    HELP_ORDER = ("step", "next", "out", "back", "continue", "until", "frame", "print", "set", "reset", "where",
                  "list", "help", "quit")

    def __init__(self, session, stdin=None, stdout=None):
        stdin = stdin if stdin is not None else sys.stdin
        stdout = stdout if stdout is not None else sys.stdout
        super().__init__(stdin=stdin, stdout=stdout)
        self.s = session
        # a terminal gets line editing and history (input()); anything else is read line by line
        self.use_rawinput = stdin is sys.__stdin__ and stdout is sys.__stdout__ and _isatty(stdin)

    # -- the loop ---------------------------------------------------------------------------------

    def greet(self) -> None:
        """The first lines: what runs on which model, the real run's note, the first frame."""
        s = self.s
        self.say(f"neurodebug debug: {call_text(s.entry, s.call)} with {s.predictor.name}")
        if s.real_note:
            self.say(f"(real run: {s.real_note})")
        show(s, self.stdout)

    def run(self) -> int:
        """Prompt until quit or end of input; 0."""
        while True:
            try:
                self.cmdloop()
                return 0
            except KeyboardInterrupt:  # at the prompt: a new one
                self.say()

    def say(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def onecmd(self, line: str):
        try:
            return super().onecmd(line)
        except UserError as e:
            self.say(f"*** {e}")
        return False

    def emptyline(self):
        """An empty line repeats the last move (step, next, out, back, continue, until), as in pdb."""
        word = self.lastcmd.strip().split(" ", 1)[0] if self.lastcmd else ""
        if word in self.REPEATABLE:
            return self.onecmd(self.lastcmd)
        return False

    def default(self, line: str):
        word = line.strip().partition(" ")[0]
        self.say(f"Unknown command {word!r}; h for help.")

    def _move(self, fn, *args) -> None:
        """Run a session move; Ctrl-C cancels it, and the frame it stopped at is shown."""
        try:
            fn(*args)
        except KeyboardInterrupt:
            self.s.cancel()
        show(self.s, self.stdout)

    # -- moves ------------------------------------------------------------------------------------

    def do_step(self, arg):
        """s, step          next frame, into calls"""
        self._move(self.s.step)

    do_s = do_step

    def do_next(self, arg):
        """n, next          next frame in this function (a call's result is predicted directly)"""
        self._move(self.s.next)

    do_n = do_next

    def do_out(self, arg):
        """o, out           to the return of the current function"""
        self._move(self.s.out)

    do_o = do_out

    def do_back(self, arg):
        """b, back          undo one frame"""
        self._move(self.s.back)

    do_b = do_back

    def do_continue(self, arg):
        """c, continue      to the end of the trace"""
        self._move(self.s.cont)

    do_c = do_cont = do_continue

    def do_until(self, arg):
        """until LINE       to the next frame at LINE

        Aliases: unt, u. Stops at the end of the trace when no frame reaches LINE."""
        if not arg.strip().isdigit():
            raise UserError("until needs a line number, e.g. until 12.")
        self._move(self.s.run_to, int(arg.strip()))

    do_unt = do_u = do_until

    def do_real(self, arg):
        """real            continue from the real run: take its frame at this step, predict on from it

        Where the prediction and the real run part, the real frames up to this step replace the
        predicted ones; the next moves predict from there. Each stretch's divergences are
        counted apart (shown at the end of the trace)."""
        self._move(self.s.take_real)

    def do_frame(self, arg):
        """frame N          go back to step N (the steps after it are undone)

        N is the number in brackets, [N], before each frame shown."""
        text = arg.strip()
        if not text.isdigit():
            raise UserError("frame needs a step number, e.g. frame 3.")
        n, current = int(text), self.s.index + 1
        if not 1 <= n <= current:
            raise UserError(f"Step {n} is not one of the steps so far (1 to {current}); "
                            "step, next, until or continue go forward.")
        self._move(self.s.back_to, n - 1)

    def do_reset(self, arg):
        """reset            drop the prediction and sample again"""
        self._move(self.s.reset)

    def do_set(self, arg):
        """set name = value give a local a new value and predict again from there

        The value is a Python expression, e.g. set n = 5 or set s = 'abc'."""
        name, eq, value = arg.partition("=")
        if not eq:
            raise UserError("Write set NAME = VALUE, e.g. set n = 5.")
        self._move(self.s.set_local, name.strip(), value.strip())

    # -- looking ----------------------------------------------------------------------------------

    def do_print(self, arg):
        """p [name]         print the predicted locals (and the real ones)

        Alias: print. With a name, that local's predicted value (and its real one)."""
        name = arg.strip()
        f = self.s.current
        loc = f.locals if f is not None else {}
        real = self.s.real_frame(self.s.index)
        if name:
            sure = ((f.locals_confidence or {}).get(name) if f is not None else None)
            doubt = "" if sure is None else f"   ({sure_text(sure)}{', unsure' if unsure(sure, self.s.options.unsure_below) else ''})"
            self.say(loc[name] + doubt if name in loc else f"No such variable: {name}")
            if real is not None and name in real.locals:
                self.say(f"  (real: {real.locals[name]})")
        else:
            self.say(str(loc))
            if real is not None:
                self.say(f"  (real: {real.locals})")

    do_p = do_print

    def do_where(self, arg):
        """w, where         show the current frame again"""
        show(self.s, self.stdout)

    do_w = do_where

    def do_list(self, arg):
        """l, list [LINE]   the source around the current line (-> predicted, => the real run's)

        With LINE, the source around that line."""
        from neurodebug.trace.format import source_lines, strip_marker

        lines = source_lines(self.s.source)
        f = self.s.current
        r = self.s.real_frame(self.s.index) if f is not None else None
        predicted = f.line if f is not None else None
        real = r.line if r is not None else None
        text = arg.strip()
        if text and not text.isdigit():
            raise UserError("list takes a line number, e.g. list 12.")
        centre = int(text) if text else (predicted or real or 1)
        first, last = max(1, centre - LIST_CONTEXT), min(len(lines), centre + LIST_CONTEXT)
        for n in range(first, last + 1):
            mark = "->" if n == predicted else "=>" if n == real else ""
            self.say(f"{n:4d} {mark:2} {strip_marker(lines[n - 1])}".rstrip())

    do_l = do_list

    # -- the rest ---------------------------------------------------------------------------------

    def do_quit(self, arg):
        """q, quit          leave"""
        return True

    do_q = do_exit = do_quit

    def do_EOF(self, arg):
        """end of input (Ctrl-D): leave"""
        self.say()
        return True

    def do_help(self, arg):
        """h, help [CMD]    this list; with CMD, more on that command"""
        name = arg.strip()
        if not name:
            self.say(help_text())
            return
        doc = getattr(getattr(self, f"do_{name}", None), "__doc__", None)
        self.say(inspect.cleandoc(doc) if doc else f"*** No help on {name}")

    do_h = do_help


def help_text() -> str:
    """One line per command: the first line of each command's docstring."""
    return "\n".join(getattr(Debugger, f"do_{name}").__doc__.splitlines()[0] for name in Debugger.HELP_ORDER)


#: What ``help`` prints (each command's first docstring line).
HELP_TEXT = help_text()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def run(args) -> int:
    d = Debugger(session_from_args(args), sys.stdin, sys.stdout)
    d.greet()
    return d.run()

"""The magic's line: the session options, spelled as the CLI spells them, and the call.

``%neurodebug --max-frames 50 --no-run fact(4)``: options first (they may also follow the call),
then the call, whose text is kept as written (argparse would split ``f('a b')`` on its space).
The flags come from :func:`neurodebug.options.add_arguments`, so every session option the CLI
offers is offered here, with the same spelling and default, but ``--api-key`` (a secret does not
belong in a notebook, which gets saved and shared: ``$NEURODEBUG_API_KEY`` gives it).
"""

from __future__ import annotations

import argparse
import re
import shlex

from neurodebug import options
from neurodebug.errors import UserError

#: Session options the magics leave out, and why.
NOT_OFFERED = options.NOT_OFFERED["notebook"]

USAGE_LINE = "w = %%neurodebug [OPTIONS] CALL"  # argparse formats it: %% is %
USAGE_CELL = "%%%%neurodebug [OPTIONS] [CALL]"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is a UserError (one sentence) instead of an exit."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message.rstrip('.')}.")


def parser(cell: bool = False) -> argparse.ArgumentParser:
    """The magic's options: every session option but those of :data:`NOT_OFFERED`."""
    p = _Parser(prog="%%neurodebug" if cell else "%neurodebug", add_help=False, allow_abbrev=False,
                usage=USAGE_CELL if cell else USAGE_LINE,
                description=("Debug the code of this cell: the model's predicted execution of CALL beside the real "
                             "run (CALL defaults to the '# neurodebug: f(...)' comment above the entry's def)."
                             if cell else
                             "Debug CALL, a call of a function defined in an earlier cell or imported from a file: "
                             "the model's predicted execution beside the real run, isolated in a child process."))
    options.add_arguments(p, exclude=tuple(NOT_OFFERED))
    return p


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _flag_action(p: argparse.ArgumentParser, token: str) -> argparse.Action | None:
    return p._option_string_actions.get(token.split("=", 1)[0])  # argparse keeps no public map


def _next_token(text: str) -> tuple[str, str]:
    """(the first whitespace-separated token, what follows it)."""
    m = re.match(r"(\S+)\s*(.*)", text, re.S)
    return (m.group(1), m.group(2)) if m else ("", "")


def _next_value(text: str) -> tuple[str, str]:
    """(the first token as a shell reads it: quotes removed, a quoted space kept; what follows)."""
    import io

    stream = io.StringIO(text)
    lex = shlex.shlex(stream, posix=True)
    lex.whitespace_split = True
    try:
        token = lex.get_token()
    except ValueError:  # an unclosed quote
        return _next_token(text)
    if token is None:
        return "", ""
    return token, text[stream.tell():].lstrip()


def split(line: str, p: argparse.ArgumentParser) -> tuple[list[str], str]:
    """(the option tokens, the call's text as written) of a magic's line."""
    rest = line.strip()
    tokens: list[str] = []
    while rest.startswith("-"):
        token, after = _next_token(rest)
        if token == "--":
            rest = after
            break
        if token in ("-h", "--help"):
            tokens.append(token)
            rest = after
            continue
        action = _flag_action(p, token)
        if action is None:
            if token[1:2].isdigit() or token[1:2] in ("(", "[", "."):
                break  # a negative number: not an option
            raise UserError(f"{p.prog}: there is no option {token.split('=', 1)[0]} (--help lists them).")
        if _takes_value(action) and "=" not in token:
            if not after.strip():
                raise UserError(f"{p.prog}: the option {token} needs a value.")
            value, after = _next_value(after)
            tokens += [token, value]
        else:
            tokens.append(token)
        rest = after
    call, trailing = _trailing_options(rest, p)
    return tokens + trailing, call


def _trailing_options(text: str, p: argparse.ArgumentParser) -> tuple[str, list[str]]:
    """Options written after the call: ``fact(4) --max-frames 5``. The call ends where a known flag
    starts and what comes before it is a call expression (a BinOp like ``f(4) --x`` is no call)."""
    for m in re.finditer(r"\s(--?[A-Za-z][\w-]*(?:=\S*)?)(?=\s|$)", text):
        if _flag_action(p, m.group(1)) is None and m.group(1) not in ("-h", "--help"):
            continue
        head = text[:m.start()].strip()
        if not _is_call(head):
            continue
        tokens, rest = split(text[m.start():], p)
        if rest.strip():
            raise UserError(f"{p.prog}: {rest.strip()!r} after the options is not an option; the call goes first "
                            "or last, once.")
        return head, tokens
    return text.strip(), []


def _is_call(text: str) -> bool:
    import ast

    try:
        return isinstance(ast.parse(text, mode="eval").body, ast.Call)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def parse(line: str, cell: bool = False) -> tuple[options.SessionOptions | None, str]:
    """(the options, the call's text) of a magic's line; (None, help text) for ``--help``; a bad
    option is one sentence (UserError)."""
    p = parser(cell)
    tokens, call = split(line, p)
    if "-h" in tokens or "--help" in tokens:
        return None, p.format_help()
    args = p.parse_args(tokens)
    return options.from_args(args), call

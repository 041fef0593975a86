"""Which functions a document defines, and which call to trace each one with.

The call comes from, in order: the command's own argument, a ``# neurodebug: f(...)``
comment right above the ``def`` (or its decorators), the first doctest example in the
docstring that calls the function. Without any, there is none and the model proposes one.
Only module-level functions are offered: the tracer enters a function by its name.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

#: A comment that names the call, e.g. ``# neurodebug: count('strawberry', 'r')``.
CALL_COMMENT = re.compile(r"^\s*#\s*neurodebug:\s*(?P<call>.+?)\s*$")


@dataclass(frozen=True)
class Function:
    name: str
    line: int  # 1-based line of the ``def``
    end_line: int  # 1-based last line of the body
    first_line: int  # 1-based line of the first decorator (== line without decorators)
    call: str | None  # the call found in the source, None when there is none
    origin: str | None  # 'comment' | 'doctest' | None


def functions(source: str) -> list[Function]:
    """Module-level functions of ``source``; [] when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    found = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        call, origin = _comment_call(lines, first), "comment"
        if call is None:
            call, origin = _doctest_call(node), "doctest"
        if call is None:
            origin = None
        found.append(Function(node.name, node.lineno, node.end_lineno or node.lineno, first, call, origin))
    return found


def call_for(source: str, name: str, explicit: str | None = None) -> str | None:
    """The call to trace ``name`` with: ``explicit`` when given, else the source's, else None."""
    if explicit is not None and explicit.strip():
        return explicit.strip()
    for f in functions(source):
        if f.name == name:
            return f.call
    return None


def function_at(source: str, line: int) -> Function | None:
    """The module-level function whose lines (decorators included) contain 1-based ``line``."""
    for f in functions(source):
        if f.first_line <= line <= f.end_line:
            return f
    return None


def _comment_call(lines: list[str], first: int) -> str | None:
    """The ``# neurodebug: ...`` comment in the comment block right above line ``first``."""
    i = first - 2  # 0-based index of the line above
    while i >= 0 and lines[i].lstrip().startswith("#"):
        m = CALL_COMMENT.match(lines[i])
        if m:
            return m.group("call")
        i -= 1
    return None


def _doctest_call(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The first doctest example of the docstring that is a call of the function itself."""
    doc = ast.get_docstring(node, clean=True)
    for example in _examples(doc or ""):
        if _calls(example, node.name):
            return ast.unparse(ast.parse(example, mode="eval"))
    return None


def _examples(doc: str):
    """Each ``>>>`` example of a docstring, its ``...`` continuation lines joined."""
    current: list[str] | None = None
    for raw in doc.splitlines():
        text = raw.strip()
        if text.startswith(">>>"):
            if current is not None:
                yield "\n".join(current)
            current = [text[3:].lstrip()]
        elif current is not None and text.startswith("..."):
            current.append(text[3:].lstrip())
        elif current is not None:
            yield "\n".join(current)
            current = None
    if current is not None:
        yield "\n".join(current)


def _calls(code: str, name: str) -> bool:
    """True when ``code`` is one expression calling ``name`` (possibly multi-line)."""
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return False
    body = tree.body
    return isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and body.func.id == name

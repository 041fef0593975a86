"""Values the debugger shows: reprs, their children, and lookups that run no code.

A predicted value is a repr string. When it parses as a Python literal (``ast.literal_eval``) and
is a list, tuple, dict or set, it expands into children; an object without ``__repr__``, written
``Stack(items=[1, 2])`` (:mod:`neurodebug.real.objects`), expands into its attributes. ``evaluate``
(hover, watch, the debug console) accepts a local's name followed by literal indexes, keys or
slices (``xs[0]``, ``d['k']``, ``grid[1][2]``, ``s[1:3]``) and such attributes (``self.items[0]``),
and nothing else: no user code runs in the adapter.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Hashable
from keyword import iskeyword
from typing import Any

from neurodebug.errors import UserError
from neurodebug.real.objects import Instance, read_value
from neurodebug.trace.format import shorten

CONTAINERS = (list, tuple, dict, set, frozenset)

#: What evaluate says to anything but a name with literal indexes.
NO_CODE = ("neurodebug runs no code: it shows a local of the predicted frame by name, indexed by "
           "literal keys such as xs[0] or d['k'].")

MISSING = object()


def literal(text: str | None) -> Any:
    """The Python value of a repr when it is a literal or holds objects written with their
    attributes (an :class:`Instance` each), else MISSING."""
    if text is None:
        return MISSING
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if "(" not in text:
        return MISSING
    try:
        return read_value(text)
    except ValueError:
        return MISSING


def type_name(text: str | None) -> str | None:
    """The type of a repr that is a literal (``'int'``, ``'list'``) or an object's class, else None."""
    value = literal(text)
    if isinstance(value, Instance):
        return value.name
    return None if value is MISSING else type(value).__name__


def expandable(value: Any) -> bool:
    return isinstance(value, CONTAINERS) and len(value) > 0


def children(value: Any) -> list[tuple[str, Hashable, Any]]:
    """(shown name, key into ``value``, child value) of a list, tuple, dict, set or object."""
    if isinstance(value, Instance):
        return [(k if isinstance(k, str) else repr(k), k, v) for k, v in value.items()]
    if isinstance(value, dict):
        return [(repr(k), k, v) for k, v in value.items()]
    if isinstance(value, (set, frozenset)):
        return [(str(i), i, v) for i, v in enumerate(value)]
    return [(str(i), i, v) for i, v in enumerate(value)]


def child(value: Any, key: Hashable) -> Any:
    """The child of ``value`` at ``key`` as :func:`children` names it."""
    if isinstance(value, (set, frozenset)):
        return list(value)[key]
    return value[key]


def child_evaluate_name(parent: str | None, value: Any, key: Hashable) -> str | None:
    """The expression ``evaluate`` takes for a child (None for a set's members: they have no key)."""
    if parent is None or isinstance(value, (set, frozenset)):
        return None
    if isinstance(value, Instance):
        return f"{parent}.{key}" if isinstance(key, str) and key.isidentifier() and not iskeyword(key) else None
    return f"{parent}[{key!r}]"


def evaluate(expression: str, local_values: dict[str, str]) -> tuple[str, Any]:
    """(repr, value or MISSING) of ``expression`` in a frame's locals; UserError with one sentence otherwise."""
    text = expression.strip()
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise UserError(NO_CODE) from None
    keys = []  # (is an attribute, key), innermost last
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        keys.append((True, node.attr) if isinstance(node, ast.Attribute) else (False, _literal_key(node.slice)))
        node = node.value
    if not isinstance(node, ast.Name):
        raise UserError(NO_CODE)
    name = node.id
    if name not in local_values:
        raise UserError(f"{name} is not a local of the predicted frame.")
    shown = local_values[name]
    value = literal(shown)
    for attribute, key in reversed(keys):
        if value is MISSING:
            raise UserError(f"The predicted value of {name}, {shorten(shown, 40)}, is not a Python literal, so it cannot be indexed.")
        value = _attribute(text, value, key) if attribute else _item(text, value, key)
        shown = repr(value)
    return shown, value


def _item(text: str, value: Any, key: Any) -> Any:
    """``value[key]``; an object's attribute may be indexed by its name too (the panes' evaluateName)."""
    try:
        return value[key]
    except (KeyError, IndexError, TypeError, ValueError):
        raise UserError(f"{text} has no value: the predicted value has no index or key {key!r}.") from None


def _attribute(text: str, value: Any, name: str) -> Any:
    """An attribute of an object written with its attributes; nothing else has attributes here."""
    if not isinstance(value, Instance) or name not in value:
        raise UserError(f"{text} has no value: the predicted value shows no attribute {name}.")
    return value[name]


def _literal_key(node: ast.AST) -> Any:
    if isinstance(node, ast.Slice):
        parts = [None if p is None else _literal_key(p) for p in (node.lower, node.upper, node.step)]
        return slice(*parts)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise UserError(NO_CODE) from None


class References:
    """DAP's variablesReference numbers: one per key, stable for the whole debug session.

    A key names a place (the predicted locals of frame 7, child 'k' of a local), not a value, so
    a reference the client kept across a setVariable or a step still reads the current value.
    """

    def __init__(self):
        self._by_key: dict[tuple, int] = {}
        self._keys: list[tuple] = []
        self._lock = threading.Lock()  # the reader thread and the worker (setVariable) both hand out refs

    def ref(self, key: tuple) -> int:
        with self._lock:
            if key not in self._by_key:
                self._keys.append(key)
                self._by_key[key] = len(self._keys)
            return self._by_key[key]

    def key(self, ref: int) -> tuple | None:
        return self._keys[ref - 1] if 0 < ref <= len(self._keys) else None

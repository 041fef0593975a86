"""Objects without ``__repr__``: their value text shows their attributes, ``Stack(items=[1, 2])``.

Python's default repr, ``<stack.Stack object at 0x7f...>``, hides the state a user debugs. The
recorder writes such an object (an instance of a class defined in Python whose ``__repr__`` is
``object.__repr__``) as its class name called with its instance attributes, in the same form for
objects inside containers and attributes. docs/trace-format.md ("Objects without __repr__") says
why. The front ends read the form back with :func:`parse`, so writer and reader live here.

Writing runs in the traced child on every line, so it reads attributes without running user code
(no ``getattr``: a property or ``__getattr__`` never runs), is bounded (depth, length, cycles) and
lets only a nested value's own ``__repr__`` raise, which the caller turns into text.
"""

from __future__ import annotations

import ast
from keyword import iskeyword
from types import GetSetDescriptorType, MemberDescriptorType
from typing import Any

#: Nesting (objects and containers) written in full; deeper objects are written ``Name(...)``
#: and deeper containers with their own repr, so one deep structure cannot recurse the hook deep.
MAX_DEPTH = 12

#: In Python's repr of a container, the sign that it holds an object without ``__repr__``.
OBJECT_MARK = " object at 0x"

#: Built-in containers written item by item (exact types: a subclass may have its own repr).
CONTAINERS = frozenset({list, tuple, dict, set, frozenset})

_BRACKETS = {list: ("[", "]"), tuple: ("(", ")"), dict: ("{", "}"), set: ("{", "}"), frozenset: ("frozenset({", "})")}
# a container met again while it is being written, as Python's repr writes it
_CYCLE = {list: "[...]", tuple: "(...)", dict: "{...}", set: "set(...)", frozenset: "frozenset(...)"}

# Read through type's own descriptors: a metaclass's attributes (user code) are never consulted.
_MRO = type.__dict__["__mro__"].__get__
_NAMESPACE = type.__dict__["__dict__"].__get__
_QUALNAME = type.__dict__["__qualname__"].__get__
_FLAGS = type.__dict__["__flags__"].__get__
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class defined in Python, not in C
_OBJECT_REPR = object.__dict__["__repr__"]


# -- which objects, and what they hold ---------------------------------------------------------------


#: type -> keeps_object_repr, as first seen: the recorder asks for every local on every line. A
#: ``__repr__`` assigned to a class after its first instance was recorded is not seen.
_KNOWN: dict[type, bool] = {}
_KNOWN_MAX = 10_000  # classes made in a loop must not fill the child's memory


def keeps_object_repr(t: type) -> bool:
    """Whether instances of ``t`` would print as ``<... object at 0x...>``: a Python class whose
    nearest ``__repr__`` is object's. C types are left alone: their state is not in attributes."""
    known = _KNOWN.get(t)
    if known is None:
        if len(_KNOWN) >= _KNOWN_MAX:
            _KNOWN.clear()
        known = _KNOWN[t] = _looks_up_object_repr(t)
    return known


def _looks_up_object_repr(t: type) -> bool:
    if not _FLAGS(t) & _HEAPTYPE:
        return False
    for c in _MRO(t):
        namespace = _NAMESPACE(c)
        if "__repr__" in namespace:
            return namespace["__repr__"] is _OBJECT_REPR
    return False


def class_name(t: type) -> str:
    """``__qualname__`` without the ``f.<locals>.`` of a class defined in a function, so it parses."""
    return _QUALNAME(t).rpartition("<locals>.")[2]


def attributes(v: object, t: type) -> list[tuple[Any, Any]] | None:
    """(name, value) of the instance's slots (base classes first), then its ``__dict__`` in
    insertion order; None when they cannot be read without running user code."""
    found, instance_dict = [], None
    for c in reversed(_MRO(t)):
        for name, d in _NAMESPACE(c).items():
            if type(d) is MemberDescriptorType:
                try:
                    found.append((name, d.__get__(v, t)))
                except AttributeError:  # a slot never assigned
                    pass
            elif name == "__dict__":
                instance_dict = d  # the nearest class's wins
    if instance_dict is None:
        return found
    if type(instance_dict) is not GetSetDescriptorType:
        return None  # the class defines __dict__ itself (a property): that is user code
    try:
        d = instance_dict.__get__(v, t)
    except Exception:  # noqa: BLE001
        return None
    return found + list(d.items()) if type(d) is dict else None


# -- writing ------------------------------------------------------------------------------------------


class _Full(Exception):
    """The text passed its limit: the rest would be cut anyway."""


class _Writer:
    """Writes a value's text, with every object without ``__repr__`` in its attribute form."""

    def __init__(self, limit: int, failed: str):
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.failed = failed
        self.active: set[int] = set()  # ids of the objects and containers being written (cycles)

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size > self.limit:
            raise _Full

    def value(self, x: Any, depth: int) -> None:
        t = type(x)
        if t in CONTAINERS:
            self.container(x, t, depth)
        elif keeps_object_repr(t):
            self.instance(x, t, depth)
        elif (t is str or t is bytes) and len(x) > self.limit:
            # only the head survives the cut; a whole long text per line would slow every step
            self.put(repr(x[: self.limit]))
        else:
            self.put(self.own_repr(x))

    def own_repr(self, x: Any) -> str:
        """``repr(x)``; a ``__repr__`` that raises gives the caller's failure text for this value only."""
        try:
            return repr(x)
        except RecursionError:
            raise
        except Exception as e:  # noqa: BLE001
            return self.failed.format(type(e).__name__)

    def container(self, x: Any, t: type, depth: int) -> None:
        if id(x) in self.active:
            self.put(_CYCLE[t])
            return
        if not x or depth >= MAX_DEPTH:
            self.put(self.own_repr(x))
            return
        self.active.add(id(x))
        opening, closing = _BRACKETS[t]
        self.put(opening)
        for i, item in enumerate(x.items() if t is dict else x):
            if i:
                self.put(", ")
            if t is dict:
                self.value(item[0], depth + 1)
                self.put(": ")
                self.value(item[1], depth + 1)
            else:
                self.value(item, depth + 1)
        self.put("," + closing if t is tuple and len(x) == 1 else closing)
        self.active.discard(id(x))

    def instance(self, x: object, t: type, depth: int) -> None:
        name = class_name(t)
        found = None if id(x) in self.active or depth >= MAX_DEPTH else attributes(x, t)
        if found is None:
            self.put(name + "(...)")
            return
        self.active.add(id(x))
        self.put(name + "(")
        named = [(k, a) for k, a in found if _keyword(k)]
        others = [(k, a) for k, a in found if not _keyword(k)]
        for i, (k, a) in enumerate(named):
            self.put(", " + k + "=" if i else k + "=")
            self.value(a, depth + 1)
        if others:  # names that cannot be keywords, as Python would pass them
            self.put(", **" if named else "**")
            self.value(dict(others), depth + 1)
        self.put(")")
        self.active.discard(id(x))


def _keyword(name: Any) -> bool:
    return type(name) is str and name.isidentifier() and not iskeyword(name)


def object_text(v: Any, limit: int, failed: str) -> str:
    """The text of ``v`` (an object without ``__repr__`` or a built-in container) with such objects
    in attribute form; past ``limit`` characters it stops, longer than ``limit``, for the caller to
    cut. ``failed`` (a format with one ``{}``) stands for a nested value whose ``__repr__`` raised."""
    writer = _Writer(limit, failed)
    try:
        writer.value(v, 0)
    except _Full:
        pass
    return "".join(writer.parts)


# -- reading (the front ends) -------------------------------------------------------------------------


class Instance(dict):
    """An object read back from its attribute form: attribute name -> value (a literal or an
    Instance). A dict, so that the panes that index and expand containers take it as it is.
    ``shown`` is False for ``Name(...)``: an object whose attributes were not written."""

    def __init__(self, name: str, attrs: dict, shown: bool = True):
        super().__init__(attrs)
        self.name = name
        self.shown = shown

    def __repr__(self) -> str:
        if not self.shown:
            return f"{self.name}(...)"
        named = [f"{k}={v!r}" for k, v in self.items() if _keyword(k)]
        others = {k: v for k, v in self.items() if not _keyword(k)}
        return f"{self.name}({', '.join(named + ([f'**{others!r}'] if others else []))})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Instance) and (self.name, self.shown) == (other.name, other.shown)
                and dict.__eq__(self, other))

    def __hash__(self) -> int:  # read back from text, never changed: it may sit in a set
        return hash((self.name, self.shown, frozenset(self)))

    def lines(self) -> list[str]:
        """``name=value`` of each attribute: how a value's detail or a hover lists them."""
        return [f"{k}={v!r}" if _keyword(k) else f"**{{{k!r}: {v!r}}}" for k, v in self.items()]


def read_value(text: str) -> Any:
    """The value a value text stands for: a literal, an Instance, or a container holding
    Instances; ValueError for any other text."""
    try:
        return _value(ast.parse(text.strip(), mode="eval").body)
    except (TypeError, SyntaxError, MemoryError, RecursionError) as e:
        raise ValueError("not a value text") from e


def parse(text: str | None) -> Instance | None:
    """The Instance a value text in attribute form stands for, else None (any other text)."""
    if not text or "(" not in text:
        return None
    try:
        value = read_value(text)
    except ValueError:
        return None
    return value if isinstance(value, Instance) else None


def _value(node: ast.AST) -> Any:
    """A literal, or a container or call holding Instances; ValueError for anything else."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.Call):
        return _instance(node)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_value(e) for e in node.elts]
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values)}
    raise ValueError("not a value text")


def _instance(node: ast.Call) -> Any:
    name = _dotted(node.func)
    if name == "frozenset" and len(node.args) == 1 and not node.keywords:  # frozenset({Point(x=1)})
        return frozenset(_value(node.args[0]))
    if node.args:  # only Name(...): attributes not written
        if len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.Constant) \
                and node.args[0].value is Ellipsis:
            return Instance(name, {}, shown=False)
        raise ValueError("positional arguments")
    attrs: dict = {}
    for kw in node.keywords:
        if kw.arg is not None:
            attrs[kw.arg] = _value(kw.value)
        elif isinstance(unpacked := _value(kw.value), dict) and not isinstance(unpacked, Instance):
            attrs.update(unpacked)
        else:
            raise ValueError("** of something other than a dict")
    return Instance(name, attrs)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    raise ValueError("not a class name")

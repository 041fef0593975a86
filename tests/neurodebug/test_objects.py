"""Objects without ``__repr__``: the recorder writes ``Stack(items=[1, 2])`` (neurodebug/real/objects.py),
the front ends read it back. docs/trace-format.md, "Objects without __repr__", is the contract."""

from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass

from neurodebug.real.objects import Instance, MAX_DEPTH, parse, read_value
from neurodebug.real.recorder import REPR_FAILED, safe_repr
from neurodebug.real.tracer import trace_source
from neurodebug.trace.format import MAX_REPR_CHARS, REPR_CUT
from neurodebug.view import LocalRow, object_rows


def text(v) -> str:
    return safe_repr(v, MAX_REPR_CHARS)


class Node:
    def __init__(self, value, next=None):
        self.value = value
        self.next = next


class Stack:
    def __init__(self, *items):
        self.items = list(items)
        self.owner = "ada"


class Slotted:
    __slots__ = ("a", "b", "c")

    def __init__(self):
        self.a = 1
        self.c = [2]  # b never assigned: not shown


def test_attributes_in_insertion_order_and_nested_objects_by_the_same_rule():
    s = Stack(1, Node(2, Node(3)))
    assert text(s) == "Stack(items=[1, Node(value=2, next=Node(value=3, next=None))], owner='ada')"
    assert text(Stack()) == "Stack(items=[], owner='ada')"


def test_no_attributes_and_a_class_defined_in_a_function():
    class Empty:
        pass

    def make():
        class Local:
            pass
        return Local()

    assert text(Empty()) == "Empty()"
    assert text(make()) == "Local()"


def test_qualname_of_a_nested_class():
    class Outer:
        class Inner:
            def __init__(self):
                self.x = 1

    assert text(Outer.Inner()) == "Outer.Inner(x=1)"


def test_slots_base_classes_first_then_the_dict():
    class WithDict(Slotted):
        def __init__(self):
            super().__init__()
            self.z = 3

    assert text(Slotted()) == "Slotted(a=1, c=[2])"
    assert text(WithDict()) == "WithDict(a=1, c=[2], z=3)"


def test_a_cycle_is_written_as_name_with_an_ellipsis():
    a = Node(1)
    a.next = Node(2, a)
    assert text(a) == "Node(value=1, next=Node(value=2, next=Node(...)))"
    xs = [1]
    xs.append(Node(xs))
    assert text(xs) == "[1, Node(value=[...], next=None)]"


def test_the_same_object_twice_is_not_a_cycle():
    shared = Node(0)
    assert text([shared, shared]) == "[Node(value=0, next=None), Node(value=0, next=None)]"


def test_depth_is_limited():
    head = None
    for i in range(MAX_DEPTH + 5):
        head = Node(i, head)
    written = text(head)
    assert written.count("Node(value=") == MAX_DEPTH
    assert written.endswith("Node(...)" + ")" * MAX_DEPTH)


def test_properties_getattr_and_getattribute_never_run():
    ran = []

    class Sneaky:
        def __init__(self):
            self.x = 1

        @property
        def y(self):
            ran.append("property")
            return 2

        def __getattr__(self, name):
            ran.append(f"__getattr__ {name}")
            raise AttributeError(name)

        def __getattribute__(self, name):
            ran.append(f"__getattribute__ {name}")
            return object.__getattribute__(self, name)

    s = Sneaky()
    ran.clear()
    assert text(s) == "Sneaky(x=1)"
    assert ran == []


def test_an_object_whose_dict_cannot_be_read_without_user_code():
    ran = []

    class OwnDict:
        @property
        def __dict__(self):
            ran.append("__dict__")
            raise RuntimeError("no")

    assert text(OwnDict()) == "OwnDict(...)"
    assert ran == []


def test_an_attribute_whose_repr_raises_fails_alone():
    class Bad:
        def __repr__(self):
            raise ValueError("no")

    s = Stack(Bad())
    assert text(s) == "Stack(items=[" + REPR_FAILED.format("ValueError") + "], owner='ada')"


def test_containers_without_such_objects_keep_python_repr_exactly():
    values = [[1, "a", (2,)], {"k": [1.5, None]}, (1,), set(), frozenset({3}), {1, 2}, "x object at 0x1",
              [object()], list(range(2000))]
    for v in values:
        assert text(v) == safe_repr_before(v), v


def safe_repr_before(v) -> str:
    """Python's repr, cut as the recorder cuts it."""
    r = repr(v)
    return r[:MAX_REPR_CHARS] + REPR_CUT if len(r) > MAX_REPR_CHARS else r


def test_such_objects_inside_every_builtin_container():
    n = Node(1)
    assert text((n,)) == "(Node(value=1, next=None),)"
    assert text({"k": n}) == "{'k': Node(value=1, next=None)}"
    assert text({n}) == "{Node(value=1, next=None)}"
    assert text(frozenset({n})) == "frozenset({Node(value=1, next=None)})"
    assert text({n: 2}) == "{Node(value=1, next=None): 2}"


def test_a_class_with_its_own_repr_is_unchanged():
    class Own:
        def __repr__(self):
            return "Own!"

    class Child(Own):
        pass

    assert text(Own()) == "Own!"
    assert text(Child()) == "Own!"
    assert text(ValueError("x")) == "ValueError('x')"


def test_no_memory_address_appears_for_such_objects():
    s = Stack(Node(1), {"n": Node(2)}, [Node(3)])
    assert not re.search(r"0x[0-9a-f]+", text(s))
    assert not re.search(r"0x[0-9a-f]+", text([s, (s,)]))


def test_long_objects_are_cut_like_any_value():
    s = Stack(*range(5000))
    written = safe_repr(s, 100)
    assert written.startswith("Stack(items=[0, 1, 2, ") and written.endswith(REPR_CUT)
    assert len(written) == 100 + len(REPR_CUT)


def test_a_long_text_attribute_is_written_only_as_far_as_the_cut():
    s = Stack()
    s.owner = "x" * 10_000_000
    written = safe_repr(s, 100)
    assert written == "Stack(items=[], owner='" + "x" * (100 - len("Stack(items=[], owner='")) + REPR_CUT


def test_names_that_cannot_be_keywords_come_last_as_a_dict():
    s = Stack()
    setattr(s, "a b", 1)
    setattr(s, "class", 2)
    assert text(s) == "Stack(items=[], owner='ada', **{'a b': 1, 'class': 2})"
    assert read_value(text(s)) == Instance("Stack", {"items": [], "owner": "ada", "a b": 1, "class": 2})


def test_read_back_round_trips():
    s = Stack(Node(1), {"k": (Node(2),)}, frozenset({Node(3, Node(4))}))
    written = text(s)
    value = parse(written)
    assert isinstance(value, Instance) and value.name == "Stack"
    assert repr(value) == written
    assert value["items"][0] == Instance("Node", {"value": 1, "next": None})
    assert value.lines() == [f"items={value['items']!r}", "owner='ada'"]


def test_read_back_rejects_other_text():
    for other in ("f(1)", "Stack(x=y)", "<Stack object at 0x1>", "[1, 2]", "Stack(items=[1", "print(1)(x=2)", None, ""):
        assert parse(other) is None, other
    assert parse("Node(...)") == Instance("Node", {}, shown=False)
    assert repr(parse("Node(...)")) == "Node(...)"


def test_object_rows_pair_attributes_predicted_beside_real():
    row = LocalRow("self", "Stack(items=[1], owner='ada')", "Stack(items=[1, 2], owner='ada', size=2)")
    objects = object_rows(row)
    assert (objects.predicted, objects.real) == ("Stack", "Stack")
    assert [(a.name, a.predicted, a.real, a.differs) for a in objects.rows] == [
        ("items", "[1]", "[1, 2]", True), ("owner", "'ada'", "'ada'", False), ("size", None, "2", True)]
    assert object_rows(LocalRow("n", "1", "1")) is None


STACK = '''\
class Stack:
    def __init__(self):
        self.items = []

    def push(self, x):
        self.items.append(x)
        return len(self.items)


def run():  # << START_OF_TRACE
    s = Stack()
    s.push(1)
    s.push(2)
    return s
'''


def test_a_real_traced_run_shows_self_with_its_attributes():
    trace = trace_source(STACK, None, "run()")
    assert trace.end.reason == "returned", trace.end
    pushes = [f for f in trace.frames if f.func == "push" and f.event == "call"]
    assert [f.locals["self"] for f in pushes] == ["Stack(items=[])", "Stack(items=[1])"]
    assert [f.locals["x"] for f in pushes] == ["1", "2"]
    assert trace.frames[-1].arg == "Stack(items=[1, 2])"
    assert trace.end.value == "Stack(items=[1, 2])"
    assert not any("0x" in v for f in trace.frames for v in f.locals.values())


@dataclass
class Line:
    sku: str
    quantity: int


Point = namedtuple("Point", "x y")


def test_a_named_tuples_and_a_dataclasses_own_repr_read_back_the_same_way():
    assert parse(repr(Point(1, 2))) == Instance("Point", {"x": 1, "y": 2})
    assert parse(text(Line("a", 2))) == Instance("Line", {"sku": "a", "quantity": 2})

"""The editor's hover lists the attributes of an object without ``__repr__`` (``Stack(items=[...])``),
one table row each, predicted beside real; computed from a real run's frames, without the protocol."""

from __future__ import annotations

from dataclasses import replace

from neurodebug.lsp import views
from neurodebug.real.tracer import trace_source

PROGRAM = '''\
class Stack:
    def __init__(self):
        self.items = []
        self.owner = "ada"


def run(n):  # << START_OF_TRACE
    s = Stack()
    s.items.append(n)
    s.items.append(n + 1)
    return s
'''


def test_hover_spreads_the_latest_objects_attributes_into_rows():
    real = trace_source(PROGRAM, None, "run(1)").frames
    # the model gets the second append wrong
    predicted = [replace(f, locals={**f.locals, "s": "Stack(items=[1, 3], owner='ada')"})
                 if f.locals.get("s") == "Stack(items=[1, 2], owner='ada')" else f for f in real]
    rows = views.history(predicted, "s", real, "run")
    text = views.hover_markdown("s", rows, True, len(predicted) - 1)
    table = text.split("attribute by attribute:\n\n")[1].split("\n")
    assert table == ["| attribute | predicted | real |", "|---|---|---|",
                     "| items | `[1, 3]` | `[1, 2]` ✗ |", "| owner | `'ada'` | `'ada'` |"]
    step = rows[-1][0]
    assert f"**s** (`Stack`) at step {step}, attribute by attribute:" in text


def test_hover_without_a_real_run_and_of_other_values_has_no_attribute_table():
    frames = trace_source(PROGRAM, None, "run(1)").frames
    alone = views.hover_markdown("s", views.history(frames, "s", (), "run"), False, len(frames) - 1)
    assert alone.split("attribute by attribute:\n\n")[1].split("\n") == [
        "| attribute | predicted |", "|---|---|", "| items | `[1, 2]` |", "| owner | `'ada'` |"]
    n = views.hover_markdown("n", views.history(frames, "n", frames, "run"), True, len(frames) - 1)
    assert n is not None and "attribute" not in n

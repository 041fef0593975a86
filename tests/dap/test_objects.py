"""The Variables pane expands an object without ``__repr__`` (``Stack(items=[...])``) into its
attributes, on the predicted and the real side, and evaluate reads them; over the adapter's real stdio."""

from __future__ import annotations

import json

import pytest

from neurodebug.dap.variables import NO_CODE
from tests.dap.conftest import assert_answered_once, spawn_replay, start

PROGRAM = '''\
class Node:
    def __init__(self, value):
        self.value = value


class Stack:
    def __init__(self):
        self.items = []

    def push(self, x):
        self.items.append(x)


# neurodebug: run()
def run():
    s = Stack()
    n = Node(1)
    s.push(n)
    s.push(2)
    return s
'''

SHOWN = "Stack(items=[Node(value=1), 2])"


@pytest.fixture(scope="module")
def stack_program(tmp_path_factory):
    from neurodebug.real.tracer import trace_source

    folder = tmp_path_factory.mktemp("dap-objects")
    program = folder / "stack.py"
    program.write_text(PROGRAM, encoding="utf-8")
    trace = trace_source(PROGRAM, "run", None)
    assert trace.end.value == SHOWN, trace.end
    replay = folder / "traces.json"
    replay.write_text(json.dumps([trace.to_json_dict(wire=False)]), encoding="utf-8")
    return program, replay


@pytest.fixture
def stopped_at_return(stack_program):
    """An adapter stopped at ``return s`` of run(), s holding two items (the model replays the real run)."""
    program, replay = stack_program
    client = spawn_replay(replay)
    start(client, program, entry="run")
    for _ in range(5):
        client.ok("next", {"threadId": 1})
        client.event("stopped")
    yield client
    client.close()
    assert_answered_once(client)


def variables(client, ref: int, **arguments) -> dict[str, dict]:
    return {v["name"]: v for v in client.ok("variables", {"variablesReference": ref, **arguments})["variables"]}


def scopes(client) -> dict[str, dict]:
    frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]
    assert frame["line"] == 20, frame
    return {s["name"]: s for s in client.ok("scopes", {"frameId": frame["id"]})["scopes"]}


def test_an_object_expands_into_its_attributes_and_those_into_theirs(stopped_at_return):
    client = stopped_at_return
    s = variables(client, scopes(client)["Predicted"]["variablesReference"])["s"]
    assert (s["value"], s["evaluateName"], s["namedVariables"], s["type"]) == (SHOWN, "s", 1, "Stack")
    attributes = variables(client, s["variablesReference"])
    items = attributes["items"]
    assert (items["value"], items["evaluateName"], items["indexedVariables"]) == ("[Node(value=1), 2]", "s.items", 2)
    assert variables(client, s["variablesReference"], filter="named").keys() == {"items"}
    inside = variables(client, items["variablesReference"])
    assert [(k, v["value"], v["type"]) for k, v in inside.items()] == [("0", "Node(value=1)", "Node"), ("1", "2", "int")]
    node = variables(client, inside["0"]["variablesReference"])
    assert [(k, v["value"], v["variablesReference"]) for k, v in node.items()] == [("value", "1", 0)]
    # every evaluateName the pane hands out is one evaluate reads back
    frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]
    for v in (items, inside["0"], node["value"]):
        got = client.ok("evaluate", {"expression": v["evaluateName"], "frameId": frame, "context": "watch"})
        assert got["result"] == v["value"], v["evaluateName"]


def test_the_real_run_side_expands_the_same_way(stopped_at_return):
    client = stopped_at_return
    s = variables(client, scopes(client)["Real run"]["variablesReference"])["s"]
    assert s["value"] == SHOWN and s["variablesReference"] > 0
    attributes = variables(client, s["variablesReference"])
    assert [(k, v["value"]) for k, v in attributes.items()] == [("items", "[Node(value=1), 2]")]


def test_evaluate_reads_attributes_and_runs_nothing(stopped_at_return):
    client = stopped_at_return
    frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]

    def evaluate(expression):
        return client.request("evaluate", {"expression": expression, "frameId": frame, "context": "repl"})

    s = evaluate("s")["body"]
    assert (s["result"], s["type"]) == (SHOWN, "Stack") and s["variablesReference"] > 0
    assert evaluate("s.items[0].value")["body"]["result"] == "1"
    assert evaluate("s.items[-1]")["body"]["result"] == "2"
    assert evaluate("s.size")["message"] == "s.size has no value: the predicted value shows no attribute size."
    assert evaluate("s.push(3)")["message"] == NO_CODE

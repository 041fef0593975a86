"""setVariable (the session's set_local, re-predicted) and evaluate (no code runs)."""

from __future__ import annotations

from tests.dap.conftest import start
from tests.dap.test_adapter import scope_values, stack

NO_CODE = ("neurodebug runs no code: it shows a local of the predicted frame by name, indexed by literal keys "
           "such as xs[0] or d['k'].")


def predicted_ref(client) -> int:
    frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]
    return client.ok("scopes", {"frameId": frame})["scopes"][0]["variablesReference"]


def test_set_variable_edits_the_frame_and_the_prediction_follows_it(client, program):
    start(client, program)
    ref = predicted_ref(client)
    body = client.ok("setVariable", {"variablesReference": ref, "name": "xs", "value": "[ 5 ]"})
    assert (body["value"], body["type"]) == ("[5]", "list")
    assert body["variablesReference"] > 0
    client.event("invalidated")  # the client asked for it: the real run changed too
    values = scope_values(client)
    assert values["Predicted"]["xs"] == "[5]"
    assert values["Real run"]["xs"] == "[5]"  # the real run is made again on the new arguments
    lines = []
    for _ in range(3):
        client.ok("next", {"threadId": 1})
        client.event("stopped")
        lines.append(stack(client)[0][1])
    assert lines == [3, 4, 5]
    assert scope_values(client)["Predicted"]["x"] == "5"


def test_set_variable_refuses_what_it_cannot_set(client, program):
    start(client, program)
    frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]
    scopes = {s["name"]: s["variablesReference"] for s in client.ok("scopes", {"frameId": frame})["scopes"]}
    response = client.request("setVariable", {"variablesReference": scopes["Real run"], "name": "xs", "value": "[1]"})
    assert not response["success"]
    assert response["message"] == "Only a local of the predicted frame can be set; the real run's values are what ran."
    xs = client.ok("variables", {"variablesReference": scopes["Predicted"]})["variables"][0]
    response = client.request("setVariable", {"variablesReference": xs["variablesReference"], "name": "0", "value": "1"})
    assert response["message"] == "An item cannot be set on its own; set the whole local to a new value."
    response = client.request("setVariable", {"variablesReference": scopes["Predicted"], "name": "xs", "value": "[1"})
    assert response["message"] == "'[1' is not a Python value."
    assert scope_values(client)["Predicted"]["xs"] == "[3, 4]"


def test_evaluate_looks_names_and_literal_keys_up_and_runs_nothing(client, program):
    start(client, program)
    frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]

    def evaluate(expression, context="hover"):
        return client.request("evaluate", {"expression": expression, "frameId": frame, "context": context})

    xs = evaluate("xs")["body"]
    assert (xs["result"], xs["type"]) == ("[3, 4]", "list") and xs["variablesReference"] > 0
    items = client.ok("variables", {"variablesReference": xs["variablesReference"]})["variables"]
    assert [v["value"] for v in items] == ["3", "4"]
    assert evaluate("xs[1]", "watch")["body"]["result"] == "4"
    assert evaluate("xs[-2:]", "repl")["body"]["result"] == "[3, 4]"
    assert evaluate("weights['a']")["body"]["result"] == "1"
    for expression in ("len(xs)", "xs.append(1)", "__import__('os').system('true')", "xs[i]", "x +"):
        response = evaluate(expression, "repl")
        assert not response["success"]
        assert response["message"] == NO_CODE, expression
    assert evaluate("nope")["message"] == "nope is not a local of the predicted frame."
    assert evaluate("weights['b']")["message"] == "weights['b'] has no value: the predicted value has no index or key 'b'."

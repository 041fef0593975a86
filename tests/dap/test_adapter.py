"""The debug adapter over stdio: launch, the stack, scopes and variables, stepping both ways."""

from __future__ import annotations

from tests.dap.conftest import INITIALIZE, start


def stack(client) -> list[tuple[str, int]]:
    frames = client.ok("stackTrace", {"threadId": 1})["stackFrames"]
    return [(f["name"], f["line"]) for f in frames]


def scope_values(client, frame_id: int | None = None) -> dict[str, dict[str, str]]:
    if frame_id is None:
        frame_id = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]
    out = {}
    for scope in client.ok("scopes", {"frameId": frame_id})["scopes"]:
        variables = client.ok("variables", {"variablesReference": scope["variablesReference"]})["variables"]
        out[scope["name"]] = {v["name"]: v["value"] for v in variables}
    return out


def test_initialize_answers_the_capabilities(client):
    caps = client.ok("initialize", INITIALIZE)
    for name in ("supportsConfigurationDoneRequest", "supportsStepBack", "supportsSetVariable",
                 "supportsRestartRequest", "supportsEvaluateForHovers", "supportsTerminateRequest",
                 "supportsCancelRequest", "supportsExceptionInfoRequest"):
        assert caps[name] is True, name
    assert [(f["filter"], f["label"]) for f in caps["exceptionBreakpointFilters"]] == [
        ("divergence", "Where the model and the real run part"), ("exception", "Predicted exception"),
        ("unsure", "Where the model is unsure")]
    assert caps["exceptionBreakpointFilters"][2]["supportsCondition"] is True and caps["supportsDataBreakpoints"] is True


def test_launch_stops_on_the_call_frame_with_predicted_and_real_locals(client, program):
    stopped = start(client, program)
    assert stopped["body"]["reason"] == "entry"
    assert stopped["body"]["threadId"] == 1
    assert client.ok("threads")["threads"] == [{"id": 1, "name": "predicted execution"}]
    frames = client.ok("stackTrace", {"threadId": 1})["stackFrames"]
    assert [(f["name"], f["line"], f["source"]["path"]) for f in frames] == [("total", 2, str(program))]
    values = scope_values(client)
    assert values["Predicted"] == {"xs": "[3, 4]", "weights": "{'a': 1}"}
    assert values["Real run"] == {"xs": "[3, 4]", "weights": "{'a': 1}"}
    output = "".join(e["body"]["output"] for e in client.events("output"))
    assert "predicting total([3, 4], {'a': 1}) with replay" in output


def test_list_and_dict_values_expand_into_children(client, program):
    start(client, program)
    frame_id = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]
    predicted = client.ok("scopes", {"frameId": frame_id})["scopes"][0]
    assert predicted["name"] == "Predicted"
    variables = {v["name"]: v for v in client.ok("variables", {"variablesReference": predicted["variablesReference"]})["variables"]}
    xs, weights = variables["xs"], variables["weights"]
    assert (xs["type"], xs["evaluateName"], xs["indexedVariables"]) == ("list", "xs", 2)
    items = client.ok("variables", {"variablesReference": xs["variablesReference"]})["variables"]
    assert [(v["name"], v["value"], v["evaluateName"], v["variablesReference"]) for v in items] == [
        ("0", "3", "xs[0]", 0), ("1", "4", "xs[1]", 0)]
    # VS Code asks for a list's items as "indexed" (in chunks: start, count), a dict's as "named"
    chunk = client.ok("variables", {"variablesReference": xs["variablesReference"], "filter": "indexed",
                                    "start": 1, "count": 1})["variables"]
    assert [(v["name"], v["value"]) for v in chunk] == [("1", "4")]
    assert client.ok("variables", {"variablesReference": xs["variablesReference"], "filter": "named"}) == \
        {"variables": []}
    assert client.ok("variables", {"variablesReference": weights["variablesReference"], "filter": "indexed"}) == \
        {"variables": []}
    keys = client.ok("variables", {"variablesReference": weights["variablesReference"]})["variables"]
    assert [(v["name"], v["value"], v["evaluateName"]) for v in keys] == [("'a'", "1", "xs['a']".replace("xs", "weights"))]


def test_next_steps_over_calls_and_step_back_returns_to_the_start(client, program):
    start(client, program)
    lines = []
    for _ in range(4):
        client.ok("next", {"threadId": 1})
        assert client.event("stopped")["body"]["reason"] == "step"
        lines.append(stack(client)[0][1])
    assert lines == [3, 4, 5, 4]  # the call to add on line 5 is stepped over
    assert scope_values(client)["Predicted"]["s"] == "3"
    for expected in (5, 4, 3, 2):
        client.ok("stepBack", {"threadId": 1})
        assert client.event("stopped")["body"]["reason"] == "step"
        assert stack(client) == [("total", expected)]
    client.ok("stepBack", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["description"] == "The start of the predicted execution."
    assert stack(client) == [("total", 2)]


def test_step_in_puts_the_callee_on_the_stack_and_step_out_returns_its_value(client, program):
    start(client, program)
    for _ in range(4):
        client.ok("stepIn", {"threadId": 1})
        client.event("stopped")
    assert stack(client) == [("add", 10), ("total", 5)]
    assert scope_values(client)["Predicted"] == {"a": "0", "b": "3"}
    caller = client.ok("stackTrace", {"threadId": 1})["stackFrames"][1]["id"]
    assert scope_values(client, caller)["Predicted"]["x"] == "3"
    client.ok("stepOut", {"threadId": 1})
    client.event("stopped")
    assert stack(client) == [("add (return 3)", 12), ("total", 5)]
    assert scope_values(client)["Return value"] == {"predicted": "3", "real": "3"}


def test_continue_runs_to_the_end_and_then_ends_the_session(client, program):
    start(client, program, filters=[])
    client.ok("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["reason"] == "step"
    assert stopped["description"].startswith("The end of the predicted execution")
    assert stack(client) == [("total (return 9)", 7)]
    summary = client.events("output")[-1]["body"]["output"]
    assert "Predicted 18 frames of total([3, 4], {'a': 1})" in summary
    assert "First divergence: At step 17 (line 7) k is 1 in the real run; the model predicted 2." in summary
    client.ok("continue", {"threadId": 1})
    client.event("exited")
    client.event("terminated")
    client.ok("disconnect", {})
    client.wait_closed()
    assert client.proc.wait(30) == 0


def test_zero_based_lines_and_file_uris_when_the_client_asks_for_them(client, program):
    client.ok("initialize", {**INITIALIZE, "linesStartAt1": False, "pathFormat": "uri"})
    launch = client.start("launch", {"program": str(program), "entry": "total", "stopOnEntry": False})
    client.event("initialized")
    body = client.ok("setBreakpoints", {"source": {"path": program.as_uri()}, "breakpoints": [{"line": 5}]})
    assert body["breakpoints"][0]["verified"] is True  # 0-based line 5 is line 6, `k = weights['a']`
    client.ok("setExceptionBreakpoints", {"filters": []})
    client.ok("configurationDone")
    assert client.response(launch)["success"]
    assert client.event("stopped")["body"]["reason"] == "breakpoint"
    [frame] = client.ok("stackTrace", {"threadId": 1})["stackFrames"]
    assert (frame["line"], frame["source"]["path"]) == (5, program.as_uri())

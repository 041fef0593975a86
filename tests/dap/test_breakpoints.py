"""Line breakpoints (verified only where code runs), reverse continue, and both exception filters."""

from __future__ import annotations

from tests.dap.conftest import INITIALIZE, start
from tests.dap.test_adapter import stack


def test_breakpoints_are_verified_only_on_lines_that_run(client, program):
    client.ok("initialize", INITIALIZE)
    client.start("launch", {"program": str(program), "entry": "total"})
    client.event("initialized")
    body = client.ok("setBreakpoints", {"source": {"path": str(program)}, "breakpoints": [
        {"line": 6}, {"line": 1}, {"line": 9}, {"line": 11, "condition": "c > 3"}, {"line": 3, "hitCondition": "2"}]})
    got = [(b["line"], b["verified"], b.get("message", "")) for b in body["breakpoints"]]
    assert got[0][:2] == (6, True)
    assert got[1] == (1, False, ("Line 1 runs no code in a trace (a blank line, a comment, or code outside the "
                                 "functions); put the breakpoint on a line of a function."))
    assert got[2][:2] == (9, False)
    assert got[3] == (11, False, "Conditions are not evaluated: neurodebug runs no code in the adapter.")
    assert got[4][1] is False
    other = client.ok("setBreakpoints", {"source": {"path": str(program) + ".other.py"}, "breakpoints": [{"line": 2}]})
    assert other["breakpoints"][0]["verified"] is False
    assert other["breakpoints"][0]["message"] == "Breakpoints apply only to the program being predicted."


def test_continue_stops_at_each_breakpoint_hit_and_reverse_continue_goes_back(client, program):
    start(client, program, breakpoints=[11], filters=[])
    bp = client.ok("setBreakpoints", {"source": {"path": str(program)}, "breakpoints": [{"line": 11}, {"line": 7}]})
    ids = [b["id"] for b in bp["breakpoints"]]
    client.ok("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert (stopped["reason"], stopped["hitBreakpointIds"]) == ("breakpoint", [ids[0]])
    assert stack(client) == [("add", 11), ("total", 5)]
    client.ok("continue", {"threadId": 1})
    assert client.event("stopped")["body"]["hitBreakpointIds"] == [ids[0]]  # add's second call
    client.ok("continue", {"threadId": 1})
    assert client.event("stopped")["body"]["hitBreakpointIds"] == [ids[1]]
    assert stack(client) == [("total", 7)]
    client.ok("reverseContinue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert (stopped["reason"], stopped["hitBreakpointIds"]) == ("breakpoint", [ids[0]])
    assert stack(client) == [("add", 11), ("total", 5)]
    client.ok("setBreakpoints", {"source": {"path": str(program)}, "breakpoints": []})
    client.ok("reverseContinue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["description"] == "The start of the predicted execution."
    assert stack(client) == [("total", 2)]


def test_the_divergence_filter_stops_where_the_model_and_the_real_run_part(client, program):
    start(client, program, filters=["divergence"])
    client.ok("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    sentence = "At step 17 (line 7) k is 1 in the real run; the model predicted 2."
    assert (stopped["reason"], stopped["description"]) == ("exception", sentence)
    assert stack(client) == [("total", 7)]
    info = client.ok("exceptionInfo", {"threadId": 1})
    assert (info["exceptionId"], info["description"], info["breakMode"]) == ("Divergence", sentence, "always")
    client.ok("continue", {"threadId": 1})  # past it: the divergence is not reported again
    stopped = client.event("stopped")["body"]
    assert stopped["reason"] == "step" and stopped["description"].startswith("The end of the predicted execution")
    response = client.request("exceptionInfo", {"threadId": 1})
    assert not response["success"]
    assert response["message"] == "The predicted execution is not stopped on an exception or a divergence."


def test_the_exception_filter_stops_on_a_predicted_exception(client, program):
    start(client, program, entry="ratio", filters=["exception"])
    client.ok("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["reason"] == "exception"
    assert stopped["text"] == "ZeroDivisionError('division by zero')"
    assert stopped["description"] == "The model predicts that line 17 raises ZeroDivisionError('division by zero')."
    assert stack(client) == [("ratio (exception ZeroDivisionError('division by zero'))", 17)]
    info = client.ok("exceptionInfo", {"threadId": 1})
    assert info["exceptionId"] == "ZeroDivisionError"
    frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]
    scopes = client.ok("scopes", {"frameId": frame})["scopes"]
    assert scopes[0]["name"] == "Exception"
    values = client.ok("variables", {"variablesReference": scopes[0]["variablesReference"]})["variables"]
    assert {v["name"]: v["value"] for v in values} == {"predicted": "ZeroDivisionError('division by zero')",
                                                       "real": "ZeroDivisionError('division by zero')"}


def test_with_both_filters_off_continue_runs_past_the_exception(client, program):
    start(client, program, entry="ratio", filters=[])
    client.ok("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["reason"] == "step" and stopped["description"].startswith("The end of the predicted execution")
    assert stack(client) == [("ratio (return None)", 17)]

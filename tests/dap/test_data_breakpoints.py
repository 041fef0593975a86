"""Data breakpoints: stop where a predicted local changes, going forward and (reverse continue) back."""

from __future__ import annotations

from tests.dap.conftest import start
from tests.dap.test_adapter import stack


def predicted_scope(client) -> int:
    frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]
    return client.ok("scopes", {"frameId": frame})["scopes"][0]["variablesReference"]


def test_a_data_breakpoint_stops_where_the_local_changes(client, program):
    start(client, program, filters=[])
    caps = client.messages[1]["body"] if client.messages[1].get("command") == "initialize" else None
    assert caps is None or caps["supportsDataBreakpoints"] is True
    info = client.ok("dataBreakpointInfo", {"variablesReference": predicted_scope(client), "name": "s"})
    assert (info["dataId"], info["description"], info["accessTypes"]) == ("total:s", "When s changes in total", ["write"])
    ids = [b["id"] for b in client.ok("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"]}]})["breakpoints"]]

    seen = []
    for _ in range(3):  # s = 0, then add(0, 3) = 3, then add(3, 4) = 7; add's own frames never stop
        client.ok("continue", {"threadId": 1})
        stopped = client.event("stopped")["body"]
        assert (stopped["reason"], stopped["hitBreakpointIds"]) == ("data breakpoint", ids)
        seen.append((stopped["description"], stack(client)[0]))
    assert seen == [("s changed to 0.", ("total", 4)), ("s changed to 3.", ("total", 4)), ("s changed to 7.", ("total", 4))]

    client.ok("reverseContinue", {"threadId": 1})  # back to where it last changed before
    stopped = client.event("stopped")["body"]
    assert (stopped["reason"], stopped["description"]) == ("data breakpoint", "s changed to 3.")

    client.ok("setDataBreakpoints", {"breakpoints": []})  # cleared: continue runs to the end
    client.ok("continue", {"threadId": 1})
    assert client.event("stopped")["body"]["description"].startswith("The end of the predicted execution")


def test_what_cannot_be_watched_says_why(client, program):
    start(client, program, filters=[])
    items = client.ok("variables", {"variablesReference": predicted_scope(client)})["variables"]
    xs = next(v for v in items if v["name"] == "xs")
    info = client.ok("dataBreakpointInfo", {"variablesReference": xs["variablesReference"], "name": "0"})
    assert info["dataId"] is None and info["description"].startswith("Only a local of the predicted frame")
    got = client.ok("setDataBreakpoints", {"breakpoints": [{"dataId": "nonsense"}, {"dataId": "total:s", "condition": "s > 1"}]})
    assert [(b["verified"], b["message"]) for b in got["breakpoints"]] == [
        (False, "'nonsense' is not a local to watch."),
        (False, "Conditions are not evaluated: neurodebug runs no code in the adapter.")]

"""How sure the model was, in the debug adapter, on the bundled model (a real model gives real
probabilities): each predicted value's in the Variables pane, the "Where the model is unsure"
filter with its threshold as condition, and a hover's probability and alternatives."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.dap.client import DapClient
from tests.dap.conftest import assert_answered_once, start
from tests.subprocesses import neurodebug_env

COUNT_CHAR = Path(__file__).resolve().parents[2] / "examples" / "count_char.py"
SURE = re.compile(r" · \d+% sure$")


@pytest.fixture
def client(tmp_path):
    c = DapClient.spawn([sys.executable, "-P", "-m", "neurodebug", "dap"], cwd=str(tmp_path), env=neurodebug_env())
    yield c
    c.close()
    assert_answered_once(c)


def predicted(client) -> tuple[int, dict[str, dict]]:
    frame = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["id"]
    scope = client.ok("scopes", {"frameId": frame})["scopes"][0]
    return frame, {v["name"]: v for v in client.ok("variables", {"variablesReference": scope["variablesReference"]})["variables"]}


def test_the_unsure_filter_stops_where_the_model_doubts_and_says_how_sure(client):
    filters = {"filters": [], "filterOptions": [{"filterId": "unsure", "condition": "0.9"}]}
    client.ok("initialize", {"clientID": "tests", "adapterID": "neurodebug", "linesStartAt1": True,
                             "columnsStartAt1": True, "pathFormat": "path", "supportsVariableType": True})
    launch = client.start("launch", {"program": str(COUNT_CHAR), "seed": 0, "maxFrames": 30, "stopOnEntry": False})
    client.event("initialized")
    client.ok("setExceptionBreakpoints", filters)
    client.ok("configurationDone")
    assert client.response(launch)["success"]
    for _ in range(10):  # each unsure step in turn, to one whose locals write a value in full
        stopped = client.event("stopped")["body"]
        assert stopped["reason"] == "exception" and re.fullmatch(r"The model gave this step \d+% sure, under 0.9.",
                                                                  stopped["description"]), stopped
        frame, variables = predicted(client)
        sure = [name for name, v in variables.items() if SURE.search(v.get("type") or "")]
        if sure:  # the values this step wrote in full carry the model's confidence
            break
        client.ok("continue", {"threadId": 1})
    assert sure, variables
    name = sure[0]
    hover = client.ok("evaluate", {"expression": name, "frameId": frame, "context": "hover"})["result"]
    assert hover.startswith(variables[name]["value"] + "   (") and "% sure" in hover, hover
    watch = client.ok("evaluate", {"expression": name, "frameId": frame, "context": "watch"})["result"]
    assert watch == variables[name]["value"]  # only a hover says more than the value


def test_a_condition_that_is_no_probability_is_refused(client):
    start(client, COUNT_CHAR, entry=None, filters=None)
    bad = client.request("setExceptionBreakpoints", {"filters": [], "filterOptions": [{"filterId": "unsure", "condition": "most"}]})
    assert not bad["success"] and bad["message"] == (
        "The condition of 'Where the model is unsure' must be a probability from 0 to 1, not 'most'.")

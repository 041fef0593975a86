"""The debug adapter on project code: a call into another file of the project shows that file in
the call stack (VS Code opens it), and a call expression's own function is a source without a
path whose text the source request gives."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from neurodebug.real.tracer import trace_file
from neurodebug.trace.context import CALL_FILE, build
from neurodebug.trace.source import read_source, trace_root
from tests.dap.conftest import assert_answered_once, spawn_replay, start

MAIN = "from helpers import double\n\n\ndef run(n):\n    m = double(n)\n    return m + 1\n"
HELPERS = "def double(v):\n    r = v * 2\n    return r\n"
STACK = ("class Stack:\n    def __init__(self):\n        self.items = []\n\n"
         "    def push(self, x):\n        self.items.append(x)\n        return len(self.items)\n")


def replaying(tmp_path: Path, program: Path, entry: str | None, call: str):
    """An adapter whose model replays the real run of ``call``, written on the context the session
    builds (its model has no context limit: everything the entry reaches is in it)."""
    real = trace_file(program, entry, call)
    context = build(program, read_source(program), trace_root(program), real.entry,
                    real.call if entry is None else None, lambda text: True, read_source)
    traces = tmp_path / "traces.json"
    traces.write_text(json.dumps([replace(real, source=context.text).to_json_dict(wire=False)]), encoding="utf-8")
    return spawn_replay(traces)


def frames(client) -> list[dict]:
    return client.ok("stackTrace", {"threadId": 1})["stackFrames"]


def test_a_call_into_another_file_shows_that_file_in_the_stack(tmp_path):
    (tmp_path / "helpers.py").write_text(HELPERS)
    program = tmp_path / "main.py"
    program.write_text(MAIN)
    client = replaying(tmp_path, program, "run", "3")
    try:
        start(client, program, entry="run", call="3")
        for _ in range(3):  # the line that calls double, then double's call frame, then its first line
            client.ok("stepIn", {"threadId": 1})
            client.event("stopped")
        got = [(f["name"], f["line"], f["source"]["path"]) for f in frames(client)]
        assert got == [("double", 2, str(tmp_path / "helpers.py")), ("run", 5, str(program))]
        client.ok("stepOut", {"threadId": 1})
        client.event("stopped")
        assert frames(client)[0]["source"]["path"] == str(tmp_path / "helpers.py")  # double's return
        client.ok("next", {"threadId": 1})
        client.event("stopped")
        assert [(f["name"], f["line"], f["source"]["path"]) for f in frames(client)] == [("run", 6, str(program))]
    finally:
        client.close()
    assert_answered_once(client)


def test_a_call_expression_runs_in_a_source_without_a_path(tmp_path):
    program = tmp_path / "stack.py"
    program.write_text(STACK)
    client = replaying(tmp_path, program, None, "Stack().push(3)")
    try:
        start(client, program, entry=None, call="Stack().push(3)")
        top = frames(client)[0]
        assert top["name"] == "Stack().push(3)" and top["line"] == 1
        assert top["source"]["name"] == CALL_FILE and "path" not in top["source"]
        text = client.ok("source", {"source": top["source"], "sourceReference": top["source"]["sourceReference"]})
        assert text["content"] == "def __trace__():\n    return Stack().push(3)\n"
        for _ in range(2):  # into the constructor
            client.ok("stepIn", {"threadId": 1})
            client.event("stopped")
        got = [(f["name"], f["line"], f["source"].get("path")) for f in frames(client)]
        assert got == [("__init__", 2, str(program)), ("Stack().push(3)", 2, None)]
    finally:
        client.close()
    assert_answered_once(client)


def test_the_toolbar_request_continues_from_the_real_run(tmp_path):
    """neurodebug/takeReal (the debug toolbar's "Continue from the real run"): at the divergence the
    real frame takes the predicted one's place, and the prediction goes on from it."""
    from tests.dap.conftest import PROGRAM, planted_traces

    from neurodebug.real.tracer import trace_source

    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    traces = tmp_path / "traces.json"
    traces.write_text(json.dumps([t.to_json_dict(wire=False) for t in
                                  (planted_traces()[0], trace_source(PROGRAM, "total", None))]), encoding="utf-8")
    client = spawn_replay(traces)
    try:
        start(client, program, filters=["divergence"], stopOnEntry=False)  # stops where k is 2, not 1
        def predicted_k():
            frame = frames(client)[0]["id"]
            scope = client.ok("scopes", {"frameId": frame})["scopes"][0]
            return {v["name"]: v["value"] for v in client.ok("variables", {"variablesReference": scope["variablesReference"]})["variables"]}.get("k")
        assert predicted_k() == "2"
        client.ok("neurodebug/takeReal")
        stopped = client.event("stopped")["body"]
        assert stopped["reason"] == "step" and "predicts on from here" in stopped["description"]
        assert predicted_k() == "1"
        client.ok("continue", {"threadId": 1})
        assert client.event("stopped")["body"]["description"].startswith("The end of the predicted execution")
        output = "".join(e["body"]["output"] for e in client.events("output"))
        assert "The predicted trace returned 8." in output  # from the real frame on, as the real run does
        # the divergences per stretch: the replaced frame still counts in the first
        assert "From the start: the model wrote 16 frames; 1 differs from the real run, the first at step 17." in output
        assert "From step 18 (after the real run's frames): the model wrote 1 frame; none differs" in output
    finally:
        client.close()
    assert_answered_once(client)

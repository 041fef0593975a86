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

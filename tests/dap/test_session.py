"""The adapter stays up: malformed and unknown messages, bad launch arguments; pause, cancel,
restart, terminate and disconnect."""

from __future__ import annotations

import json

import pytest

from tests.dap.conftest import INITIALIZE, assert_answered_once, spawn_replay, start
from tests.dap.test_adapter import stack


def test_malformed_and_unknown_messages_are_answered_and_the_adapter_stays_up(client):
    client.ok("initialize", INITIALIZE)
    client.send_raw(b"Content-Length: 9\r\n\r\nnot json!")
    assert client.event("output")["body"] == {"category": "important",
                                              "output": "neurodebug: A message's body was not JSON.\n"}
    client.send_raw(b"Content-Type: application/json\r\n\r\n")
    assert client.event("output")["body"]["output"] == \
        "neurodebug: A message header had no Content-Length, so its body was skipped.\n"
    client.send({"seq": 90, "type": "request", "command": "frobnicate", "arguments": {}})
    client.send({"seq": 91, "type": "request", "command": "next", "arguments": {}})
    client.send({"seq": 92, "type": "event", "event": "stopped"})
    client.send({"seq": "x", "type": "request"})
    body = json.dumps([1, 2]).encode()
    client.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    answers = {r["request_seq"]: r for r in (client.response(s) for s in (90, 91, 92))}
    assert answers[90]["message"] == "neurodebug does not support the 'frobnicate' request."
    assert answers[91]["message"] == "The 'next' request's argument threadId is missing."
    assert answers[92]["message"] == "A message of type 'event' was sent to the adapter; it takes requests only."
    assert all(not r["success"] for r in answers.values())
    assert client.event("output")["body"]["output"] == "neurodebug: A request needs an integer seq and a command.\n"
    assert client.event("output")["body"]["output"] == "neurodebug: A message's body was JSON but not an object.\n"
    assert client.request("goto", {"threadId": 1, "targetId": 1})["message"] == \
        "neurodebug does not support the 'goto' request."
    assert client.request("attach", {})["message"] == \
        "neurodebug cannot attach to a running program; use a launch configuration."
    assert client.ok("threads")["threads"][0]["name"] == "predicted execution"


def test_bad_launch_arguments_are_one_sentence_and_a_good_launch_follows(client, program, tmp_path):
    client.ok("initialize", INITIALIZE)
    cases = [
        ({}, "The launch configuration needs 'program' (the Python file to debug)."),
        ({"program": str(program), "entry": "total", "maxFrames": "many"},
         ("The launch attribute 'maxFrames' cannot be 'many': input should be a valid integer, unable to parse "
          "string as an integer.")),
        ({"program": str(program), "entry": "total", "temperature": -1},
         "The launch attribute 'temperature' cannot be -1: input should be greater than or equal to 0."),
        ({"program": str(program), "entry": "total", "compare": "yes"},
         "The launch attribute 'compare' cannot be 'yes': input should be a valid boolean."),
        ({"program": str(tmp_path / "missing.py")}, f"There is no file {str(tmp_path / 'missing.py')!r}."),
        ({"program": str(program)}, ("Name the function to debug: add \"entry\" (or \"call\": \"f(...)\" or "
                                     "\"Stack().push(3)\") to the launch configuration, or mark its def line with "
                                     "'# << START_OF_TRACE'.")),
        ({"program": str(program), "entry": "nope"}, "There is no function 'nope' in the source."),
        ({"program": str(program), "call": "total(1, 2, 3, 4)"}, None),
    ]
    for arguments, sentence in cases:
        response = client.request("launch", arguments)
        assert not response["success"], arguments
        if sentence is not None:
            assert response["message"] == sentence
        assert response["message"].count(". ") == 0 and response["message"].endswith("."), response["message"]
        assert response["body"]["error"]["showUser"] is True
    stopped = start_after_initialize(client, program)
    assert stopped["body"]["reason"] == "entry"
    assert stack(client) == [("total", 2)]


def start_after_initialize(client, program):
    launch = client.start("launch", {"program": str(program), "entry": "total"})
    client.event("initialized")
    client.ok("configurationDone")
    assert client.response(launch)["success"]
    return client.event("stopped")


def test_pause_and_cancel_stop_a_running_prediction(replay_file, program):
    client = spawn_replay(replay_file, delay=0.05)  # each token takes 50 ms: continue takes many seconds
    try:
        start(client, program, filters=[])
        client.ok("continue", {"threadId": 1})
        client.ok("pause", {"threadId": 1})
        stopped = client.event("stopped")["body"]
        assert (stopped["reason"], stopped["description"]) == ("pause", "Paused: the prediction was cancelled.")
        paused_at = stack(client)
        assert paused_at[-1][0] == "total" and len(client.ok("stackTrace", {"threadId": 1})["stackFrames"]) >= 1
        seq = client.start("continue", {"threadId": 1})
        client.response(seq)
        client.ok("cancel", {"requestId": seq})
        assert client.event("stopped")["body"]["reason"] == "pause"
        client.ok("stepBack", {"threadId": 1})  # the session is consistent: it steps as usual
        assert client.event("stopped")["body"]["reason"] == "step"
    finally:
        client.close()
    assert_answered_once(client)


def test_progress_of_a_launch_and_a_continue_and_cancelling_it_by_its_progress_id(replay_file, program):
    client = spawn_replay(replay_file, delay=0.05)
    try:
        client.ok("initialize", {**INITIALIZE, "supportsProgressReporting": True})
        launch = client.start("launch", {"program": str(program), "entry": "total"})
        started = client.event("progressStart")["body"]
        assert (started["title"], started["requestId"], started["cancellable"]) == \
            ("Loading the model and running the program", launch, False)
        client.event("initialized")
        client.ok("configurationDone")
        assert client.response(launch)["success"]
        assert client.event("progressEnd")["body"]["progressId"] == started["progressId"]
        client.event("stopped")
        seq = client.start("continue", {"threadId": 1})
        started = client.event("progressStart")["body"]
        assert (started["title"], started["requestId"], started["cancellable"]) == ("Predicting", seq, True)
        assert client.event("progressUpdate")["body"]["message"] == "1 frame predicted"
        client.ok("cancel", {"progressId": started["progressId"]})
        assert client.event("stopped")["body"]["reason"] == "pause"
        assert client.event("progressEnd")["body"]["progressId"] == started["progressId"]
    finally:
        client.close()
    assert_answered_once(client)


def test_restart_samples_again_from_the_call_frame(client, program):
    start(client, program)
    for _ in range(3):
        client.ok("next", {"threadId": 1})
        client.event("stopped")
    assert stack(client) == [("total", 5)]
    client.ok("restart", {"arguments": {"type": "neurodebug", "request": "launch", "name": "test",
                                        "program": str(program), "entry": "total"}})
    assert client.event("stopped")["body"]["reason"] == "entry"
    assert stack(client) == [("total", 2)]
    client.ok("restart", {"arguments": {"program": str(program), "entry": "ratio", "stopOnEntry": False}})
    stopped = client.event("stopped")["body"]  # a changed configuration: a new session, run to its exception
    assert stopped["reason"] == "exception"
    assert stack(client)[0][1] == 17


def test_a_call_the_model_cannot_propose_is_a_malformed_frame_and_the_end(client, program):
    # the replayed model knows no trace of add: after the forced call event it ends the trace
    stopped = start(client, program, entry="add")
    assert stopped["body"]["reason"] == "entry"
    [(name, _)] = stack(client)
    assert name.startswith("add (malformed frame: cut off")
    output = "".join(e["body"]["output"] for e in client.events("output"))
    assert "neurodebug: predicting add (the model proposes its arguments) with replay." in output
    assert "The model's proposed arguments are not all Python literals, so there is no real run." in output
    assert "Predicted 1 frame of add: The model ended the trace (<|end_of_text|>)." in output
    client.ok("next", {"threadId": 1})
    client.event("exited")
    client.event("terminated")


def test_terminate_then_disconnect_ends_the_adapter(client, program):
    start(client, program)
    client.ok("terminate", {})
    client.event("terminated")
    assert client.request("next", {"threadId": 1})["message"] == \
        "The predicted execution has ended; restart to predict it again."
    client.ok("disconnect", {"terminateDebuggee": True})
    client.wait_closed()
    assert client.proc.wait(30) == 0
    assert "Traceback" not in b"".join(client.stderr).decode()


#: How long the model takes to load: far longer than the test waits for the adapter to exit.
LOAD_S = 600.0


@pytest.mark.parametrize("ending", ["terminate", "disconnect"])
def test_ending_the_session_while_the_model_loads_does_not_wait_for_the_load(replay_file, program, ending):
    client = spawn_replay(replay_file, load_delay=LOAD_S)
    try:
        client.ok("initialize", {**INITIALIZE, "supportsProgressReporting": True})
        launch = client.start("launch", {"program": str(program), "entry": "total"})
        assert client.event("progressStart")["body"]["title"] == "Loading the model and running the program"
        if ending == "terminate":  # VS Code's Stop: terminate, and disconnect once it is terminated
            client.ok("terminate", {})
            client.event("terminated")
        client.ok("disconnect", {})
        client.wait_closed(timeout=60)
        assert client.proc.wait(30) == 0
        response = client.response(launch)
        assert (response["success"], response["message"]) == (False, "cancelled")  # the specification's word
        assert "Traceback" not in b"".join(client.stderr).decode()
    finally:
        client.close()
    assert_answered_once(client)

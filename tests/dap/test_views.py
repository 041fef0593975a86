"""The adapter's pure parts: the call stack, lines that run, values and their children, evaluate,
launch arguments, and the wire's framing."""

from __future__ import annotations

import io

import pytest

from neurodebug.dap import protocol, variables, views
from neurodebug.dap.launch import LaunchConfig
from neurodebug.errors import UserError
from neurodebug.real.tracer import trace_source
from neurodebug.trace.frames import Frame

RECURSIVE = '''\
def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)
'''


def test_the_call_stack_of_a_recursion_has_each_caller_at_its_calling_line():
    trace = trace_source(RECURSIVE, "fact", "3")
    deepest = max(range(len(trace.frames)), key=lambda i: (trace.frames[i].depth, -i))
    stack = views.call_stack(trace.frames, deepest)
    assert [(trace.frames[i].depth, trace.frames[i].line) for i in stack] == [(2, 1), (1, 4), (0, 4)]
    assert views.call_stack(trace.frames, 0) == [0]
    assert views.call_stack(trace.frames, len(trace.frames)) == []


def test_lines_that_run_are_those_of_functions():
    assert views.runnable_lines(RECURSIVE) == {1, 2, 3, 4}
    assert views.runnable_lines("x = 1\n\ndef f():\n    # c\n    return x\n") == {3, 5}
    assert views.runnable_lines("def f(:\n") == frozenset()


def test_children_of_literal_values():
    assert variables.children([3, 4]) == [("0", 0, 3), ("1", 1, 4)]
    assert variables.children({"a": (1, 2)}) == [("'a'", "a", (1, 2))]
    assert variables.children(frozenset({5})) == [("0", 0, 5)]
    assert variables.literal("<object at 0x1>") is variables.MISSING
    assert variables.type_name("{'a': 1}") == "dict"
    assert variables.child_evaluate_name("d", {"a": 1}, "a") == "d['a']"
    assert variables.child_evaluate_name("s", {1}, 0) is None


@pytest.mark.parametrize("expression, result", [
    ("grid", "[[1, 2], [3, 4]]"), ("grid[1][0]", "3"), ("grid[-1]", "[3, 4]"), ("grid[0][::-1]", "[2, 1]"),
    ("d[('x', 1)]", "'tuple key'"), (" d[('x', 1)] ", "'tuple key'"), ("obj", "<Thing at 0x7f>"),
])
def test_evaluate_reads_names_and_literal_keys(expression, result):
    values = {"grid": "[[1, 2], [3, 4]]", "d": "{('x', 1): 'tuple key'}", "obj": "<Thing at 0x7f>"}
    assert variables.evaluate(expression, values)[0] == result


@pytest.mark.parametrize("expression, sentence", [
    ("grid.pop()", variables.NO_CODE), ("grid[n]", variables.NO_CODE), ("f(1)", variables.NO_CODE),
    ("", variables.NO_CODE),
    ("obj[0]", "The predicted value of obj, <Thing at 0x7f>, is not a Python literal, so it cannot be indexed."),
    ("grid[5]", "grid[5] has no value: the predicted value has no index or key 5."),
])
def test_evaluate_refuses_in_one_sentence(expression, sentence):
    values = {"grid": "[[1, 2], [3, 4]]", "obj": "<Thing at 0x7f>"}
    with pytest.raises(UserError) as e:
        variables.evaluate(expression, values)
    assert str(e.value) == sentence


def test_launch_arguments_keep_their_names_and_ignore_a_clients_own():
    config = LaunchConfig.parse({"program": "p.py", "type": "neurodebug", "request": "launch", "__sessionId": "x",
                                 "call": "f(1)", "entry": "f", "stopOnEntry": False, "compare": False, "model": "m",
                                 "backend": "http", "url": "http://127.0.0.1:1", "device": "cuda",
                                 "temperature": 0.5, "seed": 3, "maxFrames": 9, "constrain": False})
    o = config.options
    assert (config.call, config.stopOnEntry, o.run_real, o.backend, o.max_frames, o.constrain, o.device, o.seed) == \
        ("f(1)", False, False, "http", 9, False, "cuda", 3)
    with pytest.raises(UserError, match=r"^The launch attribute 'maxFrames' cannot be 0: input should be greater than "
                                        r"or equal to 1\.$"):
        LaunchConfig.parse({"program": "p.py", "maxFrames": 0})


def test_framing_reads_messages_and_resynchronises_after_a_bad_header():
    stream = io.BytesIO(b"Content-Length: 2\r\n\r\n{}" b"X-Other: 1\r\n\r\n" b'Content-Length: 7\r\n\r\n{"a":1}')
    assert protocol.read_message(stream) == {}
    with pytest.raises(protocol.BadMessage):
        protocol.read_message(stream)
    assert protocol.read_message(stream) == {"a": 1}
    assert protocol.read_message(stream) is None


def test_a_request_is_parsed_into_its_typed_model():
    request = protocol.parse_request({"seq": 3, "type": "request", "command": "next", "arguments": {"threadId": 1}})
    assert (type(request).__name__, request.arguments.threadId) == ("NextRequest", 1)
    with pytest.raises(protocol.BadMessage) as e:
        protocol.parse_request({"seq": 4, "type": "request", "command": "scopes", "arguments": {"frameId": "top"}})
    assert (e.value.seq, e.value.command) == (4, "scopes")
    assert str(e.value) == "The 'scopes' request's argument frameId cannot be 'top': input should be a valid integer, " \
                           "unable to parse string as an integer."


def test_a_frame_name_says_what_a_return_returns():
    assert views.frame_name(Frame("return", 3, "", {}, "8", 0, "f"), "f") == "f (return 8)"
    assert views.frame_name(Frame("line", None, "", malformed="cut off", func="g"), "f") == "g (malformed frame: cut off)"

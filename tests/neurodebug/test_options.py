"""SessionOptions is the one definition of a session's options: every front end offers each of
them (but what NOT_OFFERED lists, with its reason) under its own spelling, with the same default,
and a bad value is one sentence in that front end's words."""

from __future__ import annotations

import argparse
import typing

import pytest

from neurodebug import options
from neurodebug.errors import UserError
from neurodebug.options import NOT_OFFERED, OPTIONS, SessionOptions, camel_name, default

#: The commands that open a session, by the name NOT_OFFERED knows them under.
SESSION_COMMANDS = ("predict", "compare", "debug", "tui", "eval")


def other_value(name: str):
    """A valid value of option ``name`` that is not its default."""
    field = SessionOptions.model_fields[name]
    d = default(name)
    if isinstance(d, bool):
        return not d
    choices = options._choices(name)
    if choices:
        return next(c for c in choices if c != d)
    kinds = [field.annotation, *typing.get_args(field.annotation)]
    if d is None:
        return 7 if int in kinds else 2.5 if float in kinds else "x"
    if name == "top_p":
        return 0.5  # its default is its upper bound
    if isinstance(d, str):
        return d + "x"
    return d + 1 if isinstance(d, int) else d + 0.5


def subparser(command: str) -> argparse.ArgumentParser:
    from neurodebug.cli import build_parser

    parser = build_parser()
    return parser._subparsers._group_actions[0].choices[command]  # argparse keeps subparsers only here


def first_args(command: str) -> list[str]:
    return ["s.jsonl"] if command == "eval" else ["x.py"]


def offered(front_end: str) -> set[str]:
    return set(OPTIONS) - set(NOT_OFFERED.get(front_end, {}))


def test_every_left_out_option_is_an_option_and_says_why():
    for front_end, left_out in NOT_OFFERED.items():
        for name, why in left_out.items():
            assert name in OPTIONS and why.strip(), (front_end, name)


@pytest.mark.parametrize("command", SESSION_COMMANDS)
def test_every_session_command_offers_every_option_with_its_default(command):
    p = subparser(command)
    assert set(options.offered_flags(p)) == offered(command)
    assert options.from_args(p.parse_args(first_args(command))) == SessionOptions()
    for name in offered(command):
        value = other_value(name)
        flag = [options.flag(name)] if isinstance(value, bool) else [options.flag(name), str(value)]
        got = options.from_args(p.parse_args(first_args(command) + flag))
        assert getattr(got, name) == value, (command, name)


def test_the_notebook_magics_offer_every_option_with_its_default():
    from neurodebug.notebook.args import parser

    for cell in (False, True):
        p = parser(cell)
        assert set(options.offered_flags(p)) == offered("notebook")
        assert options.from_args(p.parse_args([])) == SessionOptions()


def test_the_language_server_settings_offer_every_option_with_its_default():
    from neurodebug.lsp.settings import Settings

    assert Settings().options == SessionOptions()
    for name in offered("lsp"):
        value = other_value(name)
        got = Settings().updated({"neurodebug": {camel_name(name): value}})
        assert getattr(got.options, name) == value and got.problems == (), name


def test_the_launch_attributes_offer_every_option_with_its_default():
    from neurodebug.dap.launch import LaunchConfig

    assert LaunchConfig.parse({"program": "p.py"}).options == SessionOptions()
    for name in offered("dap"):
        value = other_value(name)
        assert getattr(LaunchConfig.parse({"program": "p.py", camel_name(name): value}).options, name) == value, name


def test_the_api_key_stays_out_of_settings_and_launch_files():
    from neurodebug.dap.launch import LaunchConfig
    from neurodebug.lsp.settings import Settings

    assert LaunchConfig.parse({"program": "p.py", "apiKey": "secret"}).options.api_key is None
    assert Settings().updated({"apiKey": "secret"}).options.api_key is None


def test_the_tui_and_the_python_api_take_the_same_options():
    from neurodebug.session import Session
    from neurodebug.tui.app import SessionSpec

    assert SessionSpec("x.py").options == SessionOptions()
    s = Session("def f(x):\n    return x\n", "f", "1")
    assert s.options == SessionOptions()


@pytest.mark.parametrize("front_end, bad, sentence", [
    ("python", lambda: SessionOptions(max_frames=0),
     "The option max_frames cannot be 0: input should be greater than or equal to 1."),
    ("python", lambda: SessionOptions(frames=3), "There is no session option 'frames'."),
    ("cli", lambda: options.from_args(subparser("predict").parse_args(["x.py", "--top-p", "0"])),
     "The option --top-p cannot be 0.0: input should be greater than 0."),
    ("lsp", lambda: SessionOptions.from_mapping({"maxFrameTokens": 1}),
     "The setting 'maxFrameTokens' cannot be 1: input should be greater than or equal to 2."),
    ("dap", lambda: __import__("neurodebug.dap.launch").dap.launch.LaunchConfig.parse(
        {"program": "p.py", "temperature": -1}),
     "The launch attribute 'temperature' cannot be -1: input should be greater than or equal to 0."),
])
def test_a_bad_value_is_one_sentence_in_the_front_ends_words(front_end, bad, sentence):
    with pytest.raises(UserError) as e:
        bad()
    assert str(e.value) == sentence


def test_options_are_frozen_and_copied_with_changes():
    o = SessionOptions()
    with pytest.raises(Exception):
        o.max_frames = 3  # type: ignore[misc]
    assert o.model_copy(update={"max_frames": 3}).max_frames == 3 and o.max_frames == default("max_frames")


def test_no_constrain_turns_every_constraint_off():
    o = SessionOptions(constrain=False)
    assert not o.constrains_locals and not o.constrains_flow
    assert SessionOptions(constrain_flow=False).constrains_locals and not SessionOptions(constrain_flow=False).constrains_flow


def test_the_real_runs_limits_come_from_the_options():
    from neurodebug.real.tracer import Limits

    assert SessionOptions().limits() == Limits(max_frames=SessionOptions().max_frames)
    assert SessionOptions(max_frames=7).limits().max_frames == 7  # the real run is capped as the prediction
    limits = SessionOptions(wall_s=2, cpu_s=3, memory_mb=256, isolation="none").limits()
    assert (limits.wall_s, limits.cpu_s, limits.memory_mb, limits.isolation) == (2, 3, 256, "none")

"""The magic's line: the session options as the CLI spells them, and the call as written."""

from __future__ import annotations

import pytest

from neurodebug import options
from neurodebug.errors import UserError
from neurodebug.notebook import args


def test_every_session_option_but_the_secret_is_offered_with_the_clis_spelling_and_default():
    offered = options.offered_flags(args.parser())
    assert set(offered) == set(options.OPTIONS) - set(args.NOT_OFFERED)
    for name in offered:
        assert args.parser()._option_string_actions[options.flag(name)].dest == f"option_{name}"
    got, _ = args.parse("f(1)")
    assert got == options.SessionOptions()


@pytest.mark.parametrize("line, call", [
    ("--max-frames 5 --no-run f('a b', 2)", "f('a b', 2)"),
    ("--max-frames=5 --no-run f('a b', 2)", "f('a b', 2)"),
    ("f('a b', 2) --max-frames 5 --no-run", "f('a b', 2)"),
    ("--no-run f('a b', 2) --max-frames 5", "f('a b', 2)"),
    ("--max-frames 5 --no-run -- f('a b', 2)", "f('a b', 2)"),
])
def test_options_go_before_or_after_the_call_whose_text_is_kept(line, call):
    got, text = args.parse(line)
    assert text == call
    assert got.max_frames == 5 and got.run_real is False


def test_a_call_that_looks_like_options_stays_a_call():
    got, text = args.parse("f(-1, x - -2)")
    assert text == "f(-1, x - -2)" and got == options.SessionOptions()
    assert args.parse("--seed -3 f(1)")[0].seed == -3
    assert args.parse("--model '/a b/m' f(1)")[0].model == "/a b/m"


@pytest.mark.parametrize("line, sentence", [
    ("--frames 5 f(1)", "%neurodebug: there is no option --frames (--help lists them)."),
    ("--max-frames x f(1)", "%neurodebug: argument --max-frames: invalid int value: 'x'."),
    ("--max-frames 0 f(1)", "The option --max-frames cannot be 0: input should be greater than or equal to 1."),
    ("--backend nope f(1)", "%neurodebug: argument --backend: invalid choice: 'nope' (choose from "),  # argparse's quoting varies
    ("--api-key k f(1)", "%neurodebug: there is no option --api-key (--help lists them)."),
    ("--max-frames", "%neurodebug: the option --max-frames needs a value."),
])
def test_a_bad_option_is_one_sentence(line, sentence):
    with pytest.raises(UserError) as e:
        args.parse(line)
    assert str(e.value) == sentence or (sentence.endswith("from ") and str(e.value).startswith(sentence))
    assert str(e.value).endswith(".") and "\n" not in str(e.value)


def test_help_is_the_usage_and_every_flag():
    got, text = args.parse("--help")
    assert got is None
    assert text.startswith("usage: w = %neurodebug [OPTIONS] CALL")
    assert "--max-frames" in text and "--no-run" in text and "--api-key" not in text
    assert args.parse("-h", cell=True)[1].startswith("usage: %%neurodebug [OPTIONS] [CALL]")

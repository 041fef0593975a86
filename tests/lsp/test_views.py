"""Inlay hints, hover history and diagnostics computed from frames, without the protocol."""

from types import SimpleNamespace

from neurodebug.lsp import views

from neurodebug.trace.frames import Frame


def F(event, line, locals_=None, arg=None, depth=0, func="f"):
    return Frame(event, line, "", dict(locals_ or {}), arg, depth, func)


# def f(n):          1
#     t = n + 1      2
#     t = g(t)       3
#     return t       4
# def g(a):          5
#     return a * 2   6
PREDICTED = [
    F("call", 1, {"n": "1"}),
    F("line", 2, {"n": "1"}),
    F("line", 3, {"n": "1", "t": "2"}),
    F("call", 5, {"a": "2"}, depth=1, func="g"),
    F("line", 6, {"a": "2"}, depth=1, func="g"),
    F("return", 6, arg="5", depth=1, func="g"),
    F("line", 4, {"n": "1", "t": "5"}),
    F("return", 4, arg="5"),
]
REAL = PREDICTED[:5] + [
    F("return", 6, arg="4", depth=1, func="g"),
    F("line", 4, {"n": "1", "t": "4"}),
    F("return", 4, arg="4"),
]


def labels(hints):
    return {h.line: h.label for h in hints}


def test_hints_show_only_what_each_line_changed():
    hints = labels(views.inlay_hints(PREDICTED, len(PREDICTED) - 1))
    assert hints == {2: "t = 2", 3: "t = 5", 4: "return 5", 6: "return 5"}


def test_hints_show_the_real_value_where_it_differs():
    hints = labels(views.inlay_hints(PREDICTED, len(PREDICTED) - 1, REAL))
    assert hints[2] == "t = 2"  # same in both runs: one value
    assert hints[3] == "t = 5  real 4"
    assert hints[4] == "return 5  real 4"


def test_hints_follow_the_current_step():
    assert labels(views.inlay_hints(PREDICTED, 0)) == {}
    assert labels(views.inlay_hints(PREDICTED, 1)) == {}  # line 2 has not run yet
    assert labels(views.inlay_hints(PREDICTED, 2)) == {2: "t = 2"}
    # line 3 calls g: its effect is known once f continues at step 6
    assert labels(views.inlay_hints(PREDICTED, 5)) == {2: "t = 2", 6: "return 5"}


def test_a_loop_line_shows_its_latest_execution_and_long_values_are_cut():
    frames = [F("call", 1, {"xs": "[]"}), F("line", 2, {"xs": "[]"}), F("line", 3, {"xs": "[]", "i": "0"}),
              F("line", 2, {"xs": "[0]", "i": "0"}), F("line", 3, {"xs": "[0]", "i": "1"}),
              F("line", 2, {"xs": "[0, 1]" + " " * 0 + "x" * 60, "i": "1"})]
    hints = labels(views.inlay_hints(frames, 5))
    assert hints[2] == "i = 1"
    assert hints[3].startswith("xs = [0, 1]xxx") and hints[3].endswith("…")
    assert len(hints[3]) == len("xs = ") + views.HINT_VALUE_CHARS


def test_hover_history_lists_changes_of_predicted_and_real():
    rows = views.history(PREDICTED, "t", REAL, func="f")
    assert rows == [(2, 3, "2", "2"), (6, 4, "5", "4")]
    text = views.hover_markdown("t", rows, True, 7)
    assert "| 6 | 4 | `5` | `4` ✗ |" in text and "predicted vs real" in text
    assert views.history(PREDICTED, "a", func="f") == []  # g's local is not f's
    assert views.hover_markdown("zz", [], False, 0) is None


def test_word_at():
    assert views.word_at("    total = total + x1", 6) == "total"
    assert views.word_at("    total = total + x1", 21) == "x1"
    assert views.word_at("    total = total + x1", 10) is None


def test_divergence_is_information_on_the_line_that_went_wrong():
    # the real run's t after line 3 is 4, the model said 5: seen at step 6 (line 4), made by line 3
    d = SimpleNamespace(step=6, kind="locals", name="t", expected="4", predicted="5", real_line=4,
                        predicted_line=4, message="At step 6 (line 4) t is 4 in the real run; the model predicted 5.")
    diag = views.divergence_diagnostic(d, REAL)
    assert (diag.line, diag.severity) == (3, "information")
    assert diag.message.endswith("t is 4 in the real run; the model predicted 5.")
    # a wrong return value is reported on the return line itself
    v = SimpleNamespace(step=7, kind="value", name=None, expected="4", predicted="5", real_line=4,
                        predicted_line=4, message="returned 4")
    assert views.divergence_diagnostic(v, REAL).line == 4
    assert views.divergence_diagnostic(d).line == 4  # without the rows: the divergent frame's line
    assert views.divergence_diagnostic(None) is None


def test_exceptions_only_one_run_raises_are_warnings():
    pred = [F("call", 1), F("line", 2), F("exception", 2, arg="ZeroDivisionError('division by zero')")]
    real = [F("call", 1), F("line", 2), F("line", 3), F("exception", 3, arg="KeyError('k')")]
    diags = views.exception_diagnostics(pred, real)
    assert [(d.line, d.severity) for d in diags] == [(2, "warning"), (3, "warning")]
    assert "model predicts" in diags[0].message and "ZeroDivisionError" in diags[0].message
    assert "real run raises KeyError('k')" in diags[1].message
    assert views.exception_diagnostics(pred, pred) == []

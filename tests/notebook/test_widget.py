"""The widget and the object the magic returns, in this process (no kernel): the bundled model on
small programs, asserting structure (indices, marks, sentences), never a particular prediction."""

from __future__ import annotations

import os
import re
import signal
import threading
import types

import pytest

from neurodebug.notebook import magics, render, widget
from neurodebug.notebook.widget import Debugger
from neurodebug.options import SessionOptions
from neurodebug.session import Session
from tests.notebook.cells import Notebook
from tests.notebook.stuck import Stuck

FACT = "def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n"
LOOP = "def loop(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n"


@pytest.fixture(scope="module")
def predictor():
    return SessionOptions().make_predictor()


def debugger(predictor, source=FACT, entry="fact", call="fact(3)", start=True, **options) -> Debugger:
    s = Session(source, entry, call, SessionOptions(**{"max_frames": 12, "seed": 0, **options}), predictor=predictor)
    if start:
        s.start()
    return Debugger(s)


def marked(d: Debugger, kind: str) -> list[int]:
    """The lines the source view marks as ``kind`` (predicted, real)."""
    return [int(n) for n in re.findall(rf'class="nd-line[^"]*nd-{kind}[^"]*" data-line="(\d+)"', d._source.value)]


def test_the_view_marks_the_predicted_and_the_real_line_and_shows_the_locals_side_by_side(predictor):
    d = debugger(predictor)
    view = d.view
    assert view.index == 0 and marked(d, "predicted") == [view.current.line]
    assert marked(d, "real") == [view.real_frame(0).line]
    assert "<b>fact(3)</b>" in d._header.value and "step 1 of 1+" in d._header.value
    assert 'data-name="n"' in d._locals.value and d._locals.value.count("<th") == 3
    d.step()
    assert marked(d, "predicted") == [d.view.current.line]


def test_changed_and_differing_values_are_highlighted():
    rows = [render.LocalRow("n", "3", "3", True, True), render.LocalRow("m", "1", "2")]
    out = render.locals_html(rows, has_real=True)
    assert out.count(render.CHANGED_BG) == 2 and out.count(render.DIFFERS_FG) == 1
    assert render.DIFFERS_FG not in render.locals_html(rows[:1], has_real=True)
    assert "<th" in render.locals_html([], has_real=False) and "no locals" in render.locals_html([], False)


def test_a_predicted_value_says_how_sure_the_model_was_and_an_unsure_one_is_marked():
    rows = [render.LocalRow("n", "3", "3", confidence=0.95), render.LocalRow("m", "1", "2", confidence=0.3),
            render.LocalRow("k", "7", "7")]  # written by the session: no confidence
    out = render.locals_html(rows, has_real=True, unsure_below=0.5)
    assert 'title="95% sure"' in out and 'title="30% sure"' in out and out.count("title=") == 2
    assert out.count('class="nd-unsure"') == 1 and "2?" not in out
    assert '1<span class="nd-unsure"' in out


def test_the_source_view_escapes_and_marks_both_lines_on_one():
    out = render.source_html("def f(a):\n    return a < 1  # << START_OF_TRACE\n", 2, 2)
    assert "a &lt; 1" in out and "START_OF_TRACE" not in out and "▶●" in out and "linear-gradient" in out


def test_code_steps_and_goes_back_and_the_view_follows(predictor, capsys):
    d = debugger(predictor)
    assert d.step() is d.session.current and d.session.index == 1
    d.step()
    assert d.session.index == 2 and d.slider.value == 3 and d.slider.max >= 3  # the slider counts steps from 1
    d.back()
    assert d.session.index == 1 and d.slider.value == 2
    d.back_to(0)
    assert d.session.index == 0 and d.buttons["back"].disabled  # the call frame is the floor
    d.next()
    assert d.session.index >= 1
    assert capsys.readouterr().out == ""  # nothing to say


def test_the_buttons_and_the_slider_move_the_session(predictor):
    d = debugger(predictor)
    d.buttons["step"].click()
    d.buttons["step"].click()
    assert d.session.index == 2
    d.buttons["back"].click()
    assert d.session.index == 1
    d.slider.value = 4  # forward to step 4: predicts frame by frame up to it
    assert d.session.index == 3 or d.session.ended
    d.slider.value = 1  # back to the call frame
    assert d.session.index == 0 and d.slider.value == 1
    d.buttons["continue"].click()
    steps = d.session.index + 1
    assert d.session.ended and d.buttons["step"].disabled and d.slider.value == d.slider.max == steps
    d.slider.value = 2
    assert d.session.index == 1 and d.slider.max >= steps  # the slider still reaches the end
    d.buttons["reset"].click()
    assert d.session.index == 0 and not d.session.ended


def test_the_first_divergence_is_named_and_the_button_goes_to_it(predictor):
    d = debugger(predictor, max_frames=40)
    d.to_divergence()
    view = d.view
    text = d._divergence.value
    if view.divergence is None:  # the model agreed all along
        assert view.ended and "agree at every step" in text
    else:
        assert render.divergence_frame(view) == view.index
        assert view.divergence.message in text.replace("&#x27;", "'")
        assert d.jump.disabled
    d.cont()
    if d.view.divergence is not None and render.divergence_frame(d.view) < d.session.index:
        d.jump.click()
        assert d.session.index == render.divergence_frame(d.view)


def test_without_a_real_run_the_view_says_so(predictor):
    d = debugger(predictor, run_real=False)
    assert d.view.real is None and "There is no real run to compare with." in d._divergence.value
    assert d._locals.value.count("<th") == 2 and d.jump.disabled and marked(d, "real") == []


def test_bad_input_from_code_is_one_printed_sentence(predictor, capsys):
    d = debugger(predictor)
    assert d.run_to(999) is d.session.current
    assert capsys.readouterr().out == "Line 999 is not a line of the source.\n"
    assert d.message == "Line 999 is not a line of the source." and "nd-status" in d._status.value
    d.buttons["step"].click()  # a good move clears it
    assert d.message == "" and capsys.readouterr().out == ""


def test_a_session_not_started_starts_on_the_first_move(predictor):
    d = debugger(predictor, start=False)
    assert not d.session.started and d.buttons["back"].disabled
    d.step()
    assert d.session.started and d.session.index == 1


def test_frames_per_second_are_shown(predictor):
    d = debugger(predictor)
    d.step()
    assert re.search(r"\d+\.\d frames/s", d._status.value)


def _interrupt_soon(after: float = 0.6) -> threading.Timer:
    timer = threading.Timer(after, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_the_kernels_interrupt_cancels_and_leaves_the_session_consistent(predictor, capsys):
    stuck = Stuck(predictor)  # predicts until cancelled
    d = debugger(stuck, source=LOOP, entry="loop", call="loop(10000)", max_frames=5000)
    _interrupt_soon()
    with pytest.raises(KeyboardInterrupt):  # from code, the cell stops
        d.cont()
    s = d.session
    assert len(s.frames) == 1 and not s.ended and s.index == 0  # the frame being predicted is dropped
    assert d.outcome == "interrupted" and f"step {s.index + 1}" in d.message
    assert capsys.readouterr().out == d.message + "\n"
    assert d.progress.layout.display == "none" and not d.buttons["step"].disabled
    before = s.index
    d.step()
    assert s.index == before + 1
    stuck.armed = True
    _interrupt_soon()
    d.buttons["continue"].click()  # from a button, the status line says it
    assert d.outcome == "interrupted" and not s.ended and capsys.readouterr().out == ""


def test_the_cells_value_shows_the_widget_once_per_cell(predictor, monkeypatch):
    shown = []
    monkeypatch.setattr(widget, "display", lambda w, **kw: shown.append(w))
    d = debugger(predictor)
    d._shell = types.SimpleNamespace(execution_count=5)
    d.show()
    d._ipython_display_()  # `%neurodebug f(3)` alone in its cell: the magic showed it already
    assert len(shown) == 1
    d._shell.execution_count = 6
    d._ipython_display_()  # `w` in a later cell: another view of the same widget
    assert shown == [d.widget, d.widget]
    assert repr(d) == "<neurodebug fact(3): step 1 of 1+>"


def test_the_magics_work_without_a_kernel(predictor, monkeypatch, capsys):
    monkeypatch.setattr(widget, "display", lambda w, **kw: types.SimpleNamespace(update=lambda *a, **k: None))
    monkeypatch.setattr(magics, "_predictor", (SessionOptions().predictor_key(), predictor))
    nb = Notebook().run(FACT)
    shell = types.SimpleNamespace(user_ns=nb.ns, execution_count=1, user_ns_hidden={})
    d = magics.debugger_for(shell, "--max-frames 6 --seed 1 fact(3)")
    assert d.session.started and d.session.index == 0 and d.session.options.max_frames == 6
    assert d.session.predictor is predictor  # loaded once per kernel
    d = magics.debugger_for(shell, "--no-run g(2)", "def g(x):\n    return x + 1\n")
    assert d.session.entry == "g" and d.view.real is None and "g" not in nb.ns
    assert capsys.readouterr().out == ""
    assert magics.debugger_for(shell, "fact(1, 2)") is None
    assert capsys.readouterr().out == "The call fact(1, 2) does not fit fact(n): too many positional arguments.\n"
    assert magics.debugger_for(shell, "--help") is None and "usage:" in capsys.readouterr().out

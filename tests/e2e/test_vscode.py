"""The VS Code extension in a real VS Code (code-server 4.100.3, Code 1.100.3), through its UI only.

The extension is packaged by vsce and installed as a user would; its language server and debug
adapter are this checkout's `neurodebug` on the bundled model, with the real run beside it. The
model's values are not asserted (a retrained model may predict others); what the UI must show is.

Run: `.ci/e2e_setup.sh && pytest -m e2e` (2-core machine: a few minutes).
"""

from __future__ import annotations

import ast
import json
import re

import pytest

from neurodebug.dap.variables import NO_CODE

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

STATUS = "neurodebug.neurodebug"  # the extension's status bar item
#: An inlay hint: `name = value[, ...]` with an optional `  real value`, or `return value` / `raises X`.
HINT = re.compile(r"^((\w+ = .+)|(return .+)|(raises .+)|(real raises .+))$")


def test_language_server_lenses_predict_compare_and_inlay_hints(workbench):
    workbench.open_file("count_char.py")
    assert workbench.lenses() == ["▶ Predict count('strawberry', 'r')", "⇄ Compare with real run",
                                  "Debug predicted execution"]
    assert workbench.inlay_hints() == {}  # nothing runs before a command

    workbench.click_lens("Predict")
    status = workbench.wait_for_status(STATUS, r"step \d+/\d+ · ended")
    steps = int(re.search(r"step (\d+)/", status).group(1))
    assert steps > 2 and "real run" not in status and "diverges" not in status
    hints = workbench.wait_until(workbench.inlay_hints, bool, 30, "inlay hints")
    assert hints and set(hints) <= {3, 4, 5, 6, 7}, hints  # lines of count's body
    assert all(HINT.match(text) for text in hints.values()), hints
    assert "real" not in " ".join(hints.values())

    workbench.click_lens("Compare")
    status = workbench.wait_for_status(STATUS, r"matches the real run|diverges at step \d+")
    hints = workbench.wait_until(workbench.inlay_hints, bool, 30, "inlay hints")
    assert hints and all(HINT.match(text) for text in hints.values()), hints
    if "diverges" in status:  # the model got a value or a line wrong: an Information diagnostic says where
        problems = workbench.status("status.problems").split()
        assert int(problems[-1]) >= 1, problems  # errors, warnings, infos
    else:
        assert "real" not in " ".join(hints.values()), hints


def frame(function: str, line: int, file: str = "recursion.py") -> str:
    """A Call Stack row as VS Code names it for screen readers."""
    return f"Stack Frame {function}, line {line}, {file}"


def test_debugger_toolbar_variables_step_over_and_step_back(workbench):
    """The "Debug predicted execution" lens starts `neurodebug dap` on fact(4) of examples/recursion.py
    (the bundled model predicts its recursive calls): step over to the recursive call, step into it
    (a second frame on the call stack), step back out of it and back to the start."""
    workbench.open_file("recursion.py")
    assert "Debug predicted execution" in workbench.lenses()
    workbench.click_lens("Debug predicted execution")

    workbench.debug_actions()  # the toolbar shows up while the adapter loads the model
    stack = workbench.wait_until(workbench.call_stack, bool, what="the call stack")
    assert stack == [frame("fact", 2)]  # stopped on entry: fact's call frame
    assert workbench.stopped_line() == 2
    actions = workbench.debug_actions()
    for button in ("Continue", "Step Over", "Step Into", "Step Out", "Step Back", "Reverse", "Restart", "Stop"):
        assert any(a.startswith(button) for a in actions), (button, actions)

    # Variables: the predicted locals, and the real run's (expanded by a click) beside them
    rows = workbench.wait_until(workbench.variables, lambda r: "Scope Real run" in r, what="the Variables pane")
    assert rows[0] == "Scope Predicted" and rows[1].startswith("n, value "), rows
    workbench.expand_scope("Real run")
    rows = workbench.wait_until(workbench.variables, lambda r: r[-1] != "Scope Real run", what="the Real run scope")
    assert rows[rows.index("Scope Real run") + 1:] == ["n, value 4"], rows  # the real run of fact(4)

    lines = [2]
    for _ in range(2):  # line 3 (the test), then line 5 (the recursive call)
        workbench.debug_action("Step Over")
        stack = workbench.wait_until(workbench.call_stack, lambda s: s and s != [frame("fact", lines[-1])],
                                     what="the call stack after Step Over")
        assert len(stack) == 1, stack
        lines.append(int(re.search(r"line (\d+)", stack[0]).group(1)))
        assert workbench.wait_until(workbench.stopped_line, lambda n: n == lines[-1], 10, "the stopped line")
    assert lines == [2, 3, 5]

    workbench.debug_action("Step Into")
    stack = workbench.wait_until(workbench.call_stack, lambda s: len(s) == 2, what="the call stack after Step Into")
    assert stack == [frame("fact", 2), frame("fact", 5)]  # fact(3) above fact(4)
    workbench.wait_until(workbench.stopped_line, lambda n: n == 2, 10, "the stopped line")
    workbench.wait_until(workbench.variables, lambda r: r[-2:] == ["Scope Real run", "n, value 3"],
                         what="the Variables pane of fact(3)")  # the real run of fact(3), the pane refreshed
    workbench.keep_screenshot("vscode-debugger")

    workbench.debug_action("Step Back")
    stack = workbench.wait_until(workbench.call_stack, lambda s: len(s) == 1, what="the call stack after Step Back")
    assert stack == [frame("fact", 5)]
    assert workbench.wait_until(workbench.stopped_line, lambda n: n == 5, 10, "the stopped line")
    for line in (3, 2):
        workbench.debug_action("Step Back")
        stack = workbench.wait_until(workbench.call_stack, lambda s: s == [frame("fact", line)],
                                     what=f"the call stack after Step Back to line {line}")
        assert workbench.wait_until(workbench.stopped_line, lambda n: n == line, 10, "the stopped line")

    workbench.debug_action("Stop")
    workbench.page.wait_for_selector(".debug-toolbar", state="hidden", timeout=30_000)


def test_f5_without_launch_json_then_hover_and_watch(workbench, code_server):
    """F5 in examples/accumulate.py with no launch.json: the extension's resolveDebugConfiguration
    debugs the active file (its `# neurodebug:` call). Hovering a local shows its predicted value;
    the Watch pane shows an index into it, and refuses an expression that would run code."""
    assert not (code_server.workspace / ".vscode" / "launch.json").exists()  # this test runs before one is written
    workbench.open_file("accumulate.py")
    workbench.page.keyboard.press("F5")
    workbench.debug_actions()
    stack = workbench.wait_until(workbench.call_stack, bool, what="the call stack")
    assert stack == [frame("running_max", 2, "accumulate.py")]
    # the scopes show before the Predicted scope's variables: wait for its first row
    rows = workbench.wait_until(workbench.variables, lambda r: len(r) > 2 and r[0] == "Scope Predicted"
                                and r[1] != "Scope Real run", what="the Variables pane")
    assert rows[1].startswith("xs, value "), rows
    xs = rows[1].removeprefix("xs, value ")  # the predicted list

    shown = workbench.hover(3, "xs")  # `best = xs[0]`: the debug hover asks the adapter (evaluate, context hover)
    assert shown.splitlines()[0] == xs, shown

    workbench.add_watch("xs[2]")
    workbench.add_watch("max(xs)")
    watch = workbench.wait_until(workbench.watch, lambda r: len(r) == 2 and all(", value " in row for row in r),
                                 what="the Watch pane")
    assert watch == [f"xs[2], value {ast.literal_eval(xs)[2]!r}", f"max(xs), value {NO_CODE}"], watch
    workbench.remove_watches()
    workbench.debug_action("Stop")
    workbench.page.wait_for_selector(".debug-toolbar", state="hidden", timeout=30_000)


def test_launch_json_configurations_a_bad_attribute_and_continue_to_the_end(workbench, code_server):
    """Configurations of the `neurodebug` type from .vscode/launch.json: one with a bad attribute is
    refused in one sentence; the adapter's next session runs fact(2) to its end with Continue."""
    settings = code_server.workspace / ".vscode"
    settings.mkdir(exist_ok=True)
    base = {"type": "neurodebug", "request": "launch", "program": "${workspaceFolder}/recursion.py", "stopOnEntry": True}
    (settings / "launch.json").write_text(json.dumps({"version": "0.2.0", "configurations": [
        {**base, "name": "neurodebug: no frames", "maxFrames": 0},
        {**base, "name": "neurodebug: fact(2)", "call": "fact(2)"},
    ]}))
    workbench.open_file("recursion.py")

    workbench.start_debugging("neurodebug: no frames")
    message = workbench.wait_until(workbench.dialog, bool, 60, "the error dialog")
    assert message == "The launch attribute 'maxFrames' cannot be 0: input should be greater than or equal to 1.", message
    workbench.page.keyboard.press("Escape")  # Cancel
    workbench.page.wait_for_selector(".monaco-dialog-box", state="detached")

    workbench.start_debugging("neurodebug: fact(2)")
    workbench.debug_actions()
    assert workbench.wait_until(workbench.call_stack, bool, what="the call stack") == [frame("fact", 2)]
    workbench.wait_until(workbench.variables, lambda r: r[:2] == ["Scope Predicted", "n, value 2"],
                         what="the Variables pane")
    workbench.debug_action("Continue")  # no breakpoint: to the end of the prediction, where it stays (to step back)
    stack = workbench.wait_until(workbench.call_stack, lambda s: s and "return" in s[0], what="the call stack at the end")
    assert stack == ["Stack Frame fact (return 2), line 5, recursion.py"], stack
    end = ["Scope Return value", "predicted, value 2", "real, value 2"]
    workbench.wait_until(workbench.variables, lambda r: r[:3] == end, what="the Variables pane at the end")
    console = workbench.wait_until(workbench.debug_console, lambda c: any("real run" in line for line in c), 30,
                                   "the Debug Console")
    assert "The real run: fact(2) returned 2." in console, console
    workbench.debug_action("Stop")
    workbench.page.wait_for_selector(".debug-toolbar", state="hidden", timeout=30_000)


def test_a_data_breakpoint_stops_where_the_value_changes_and_the_hover_says_how_sure(workbench):
    """count('strawberry', 'r') of examples/count_char.py, from its "Debug predicted execution" lens
    (not F5: an earlier test leaves a launch.json, whose configuration F5 would start): Break on
    Value Change on the predicted n stops where the model's n changes (and Reverse Continue where it
    last changed before); the debug hover on n gives its value and how sure the model was of it."""
    workbench.open_file("count_char.py")
    workbench.click_lens("Debug predicted execution")
    workbench.debug_actions()
    assert workbench.wait_until(workbench.call_stack, bool, what="the call stack") == [frame("count", 2, "count_char.py")]
    for line in (3, 4):  # n = 0, then the loop's first test: n is a local now
        workbench.debug_action("Step Over")
        workbench.wait_until(workbench.stopped_line, lambda n: n == line, 60, "the stopped line")
    rows = workbench.wait_until(workbench.variables, lambda r: any(row.startswith("n, value ") for row in r),
                                what="the Variables pane with n")
    n_row = next(row for row in rows if row.startswith("n, value "))
    workbench.variable_menu(n_row, "Break on Value Change")

    changed = None
    for _ in range(3):  # the divergence filter (on by default) may stop first: continue past it
        before = workbench.variables()
        workbench.debug_action("Continue")
        after = workbench.wait_until(workbench.variables, lambda r: r and r != before, what="the Variables pane")
        if any(row.startswith("n, value ") and row != n_row for row in after):
            changed = after
            break
    assert changed is not None, after
    now = next(row for row in changed if row.startswith("n, value "))
    # the call stack's title shows the stop's description: the adapter's sentence for a data breakpoint
    workbench.page.get_by_text(f"n changed to {now.removeprefix('n, value ')}.").first.wait_for(timeout=30_000)
    assert workbench.stopped_line() in (3, 4, 5, 6, 7), workbench.stopped_line()
    value = now.removeprefix("n, value ")
    for _ in range(3):  # the pointer passes over other names on its way: a hover of one of them may come first
        shown = workbench.hover(6, "n")  # `n += 1`: the debug hover asks the adapter (evaluate, context hover)
        if shown.splitlines()[0].startswith(value):
            break
    assert shown.splitlines()[0].startswith(value) and "% sure" in shown, shown
    workbench.keep_screenshot("vscode-data-breakpoint")

    workbench.debug_action("Reverse")  # back to where n last changed: its first value
    workbench.wait_until(workbench.variables, lambda r: n_row in r, what="the Variables pane back at n's first value")
    workbench.debug_action("Stop")
    workbench.page.wait_for_selector(".debug-toolbar", state="hidden", timeout=30_000)

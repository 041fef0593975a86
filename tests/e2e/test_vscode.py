"""The VS Code extension in a real VS Code (code-server 4.100.3, Code 1.100.3), through its UI only.

The extension is packaged by vsce and installed as a user would; its language server and debug
adapter are this checkout's `neurodebug` on the bundled model, with the real run beside it. The
model's values are not asserted (a retrained model may predict others); what the UI must show is.

Run: `.ci/e2e_setup.sh && pytest -m e2e` (2-core machine: a few minutes).
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

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
    hints = workbench.wait_for_inlay_hints(bool)
    assert hints and set(hints) <= {3, 4, 5, 6, 7}, hints  # lines of count's body
    assert all(HINT.match(text) for text in hints.values()), hints
    assert "real" not in " ".join(hints.values())

    workbench.click_lens("Compare")
    status = workbench.wait_for_status(STATUS, r"matches the real run|diverges at step \d+")
    hints = workbench.wait_for_inlay_hints(bool)
    assert hints and all(HINT.match(text) for text in hints.values()), hints
    if "diverges" in status:  # the model got a value or a line wrong: an Information diagnostic says where
        problems = workbench.status("status.problems").split()
        assert int(problems[-1]) >= 1, problems  # errors, warnings, infos
    else:
        assert "real" not in " ".join(hints.values()), hints

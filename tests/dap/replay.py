"""The debug adapter on a replaying predictor (tests/replay.py), for tests over its real stdio.

    python -m tests.dap.replay TRACES.json [--delay S]

TRACES.json is a list of Trace JSON dicts (Trace.to_json_dict()); every launch configuration
gets the predictor that replays them, so a session predicts exactly those traces.
"""

from __future__ import annotations

import json
import sys

from neurodebug.trace.frames import Trace
from tests.replay import ReplayPredictor


def main(argv: list[str]) -> None:
    from neurodebug.model.tokenizer import llama3_tokenizer
    from neurodebug.dap.adapter import Predictors
    from neurodebug.dap.server import serve_stdio

    path, delay = argv[0], 0.0
    if "--delay" in argv:
        delay = float(argv[argv.index("--delay") + 1])
    traces = [Trace.from_json_dict(d) for d in json.loads(open(path, encoding="utf-8").read())]
    tokenizer = llama3_tokenizer()
    serve_stdio(Predictors(lambda config: ReplayPredictor(tokenizer, traces, delay_s=delay)))


if __name__ == "__main__":
    main(sys.argv[1:])

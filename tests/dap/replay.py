"""The debug adapter on a replaying predictor (tests/replay.py), for tests over its real stdio.

    python -m tests.dap.replay TRACES.json [--delay S]

TRACES.json is a list of Trace JSON dicts (Trace.to_json_dict()); every launch configuration
gets the predictor that replays them, so a session predicts exactly those traces.
"""

from __future__ import annotations

import sys

from tests.replay import replay_from_argv


def main(argv: list[str]) -> None:
    from neurodebug.dap.adapter import Predictors
    from neurodebug.dap.server import serve_stdio

    predictor = replay_from_argv(argv)
    serve_stdio(Predictors(lambda config: predictor))


if __name__ == "__main__":
    main(sys.argv[1:])

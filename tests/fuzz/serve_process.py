"""`neurodebug serve` as a user starts it: a subprocess on 127.0.0.1 with the bundled model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

from tests.subprocesses import neurodebug_env


class ServeProcess:
    def __init__(self, *flags: str):
        env = neurodebug_env(OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "neurodebug", "serve", "--port", "0", *flags],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            if m:
                self.url = m.group(1)
                host, port = self.url.removeprefix("http://").split(":")
                self.address = (host, int(port))
                return
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        raise RuntimeError(f"neurodebug serve did not start: {line!r}")

    def healthy(self) -> bool:
        with urllib.request.urlopen(self.url + "/health", timeout=30) as r:
            return r.status == 200

    def rss_kib(self) -> int:
        """The server's resident memory (VmRSS), in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

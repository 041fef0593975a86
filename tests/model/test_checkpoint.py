"""Finding and reading checkpoints: configs, shards, the local Hugging Face cache, writing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from neurodebug.model import ModelError, load_model
from neurodebug.model.checkpoint import resolve, save_checkpoint
from neurodebug.model.config import GLOBAL, SLIDING, ModelConfig
from neurodebug.model.model import Transformer

from tests.checkpoints import load_reference, make_checkpoint

DATA = Path(__file__).parent.parent / "data"


def test_published_cwm_config_keeps_its_sliding_layers():
    c = ModelConfig.from_file(DATA / "cwm_config.json")
    assert c.model_type == "llama"  # as published, yet:
    assert (c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.head_dim) == (64, 6144, 48, 8, 128)
    assert c.n_global == 16 and c.n_sliding == 48 and c.sliding_window == 8192
    assert c.rope_scaling == {"factor": 16.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 8192}
    assert 32.0e9 < c.param_count() < 33.0e9
    # 131,072 tokens: 16 global layers of every position + 48 rings of the 8,192-token window.
    per_pos = 2 * 8 * 128 * 2
    assert c.kv_bytes(131072) == 16 * 131072 * per_pos + 48 * 8192 * per_pos


def test_config_fields_and_errors():
    d = json.loads((DATA / "cwm_config.json").read_text())
    cwm = dict(d, model_type="cwm")
    del cwm["layer_types"]
    c = ModelConfig.from_hf(cwm)  # CwmConfig's default pattern: global every 4th layer from the first
    assert c.layer_types[:5] == [GLOBAL, SLIDING, SLIDING, SLIDING, GLOBAL]
    llama = dict(d)
    del llama["layer_types"], llama["sliding_window"]
    assert ModelConfig.from_hf(llama).n_sliding == 0
    with pytest.raises(ModelError, match="not CWM or Llama"):
        ModelConfig.from_hf(dict(d, model_type="gpt2"))
    with pytest.raises(ModelError, match="layer_types for 64 layers"):
        ModelConfig.from_hf(dict(d, layer_types=[GLOBAL]))
    with pytest.raises(ModelError, match="yarn"):
        ModelConfig.from_hf(dict(d, rope_scaling={"rope_type": "yarn", "factor": 4.0}))


def test_sharded_checkpoint_loads_like_a_single_file(tmp_path):
    path = make_checkpoint(tmp_path / "one", tokenizer=False, vocab=512)
    ref = load_reference(path)
    sharded = tmp_path / "sharded"
    ref.save_pretrained(sharded, max_shard_size="100KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    assert len(list(sharded.glob("*.safetensors"))) > 2
    ids = list(range(30))
    assert torch.equal(load_model(path).logits(ids), load_model(sharded).logits(ids))


def test_repo_id_comes_from_the_local_hf_cache_only(tmp_path, monkeypatch):
    src = make_checkpoint(tmp_path / "src", tokenizer=False, vocab=512)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError, match="not in the local Hugging Face cache"):
        resolve("someone/tiny-cwm")
    # The cache's layout: models--org--name/{refs/main, snapshots/<commit>/...}.
    repo = tmp_path / "hub" / "models--someone--tiny-cwm"
    commit = "0" * 40
    shutil.copytree(src, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    assert resolve("someone/tiny-cwm") == repo / "snapshots" / commit
    assert load_model("someone/tiny-cwm").config.vocab_size == 512


def test_bad_paths_are_sentences(tmp_path):
    with pytest.raises(ModelError, match="No checkpoint directory exists"):
        resolve(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        resolve(tmp_path / "empty")
    with pytest.raises(ModelError, match="dtype"):
        load_model(make_checkpoint(tmp_path / "c", tokenizer=False, vocab=512), dtype="int4")


def test_save_checkpoint_round_trips_through_transformers(tmp_path):
    c = ModelConfig(vocab_size=300, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=8,
                    intermediate_size=64, sliding_window=8, layer_types=[SLIDING, GLOBAL],
                    rope_scaling={"factor": 16.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 8192}, eos_token_id=[1], bos_token_id=0)
    torch.manual_seed(0)
    model = Transformer(c)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    path = save_checkpoint(model, tmp_path / "saved")
    ids = list(range(20))
    with torch.no_grad():
        want = model(torch.tensor([ids]))[0]
        ref = load_reference(path)(torch.tensor([ids])).logits[0]
    assert (load_model(path).logits(ids) - want).abs().max() < 1e-5
    assert (ref - want).abs().max() < 1e-4


@pytest.mark.parametrize("tie", [False, True])
def test_the_cpu_layout_saves_the_checkpoint_it_loaded(tmp_path, tie):
    # On a CPU load_model stores linear weights column-major (model.column_major_linears): the
    # same values and shapes, so a save writes back the very tensors it read, and tied
    # embeddings stay one tensor.
    from safetensors.torch import load_file

    path = make_checkpoint(tmp_path / "c", tie=tie)
    model = load_model(path).model
    assert model.layers[0].attention.wqkv.weight.stride() == (1, model.layers[0].attention.wqkv.weight.shape[0])
    assert (model.output.weight.data_ptr() == model.tok_embeddings.weight.data_ptr()) == tie
    saved = load_file(str(save_checkpoint(model, tmp_path / "saved") / "model.safetensors"))
    original = load_file(str(path / "model.safetensors"))
    assert saved.keys() == original.keys()
    assert all(torch.equal(saved[k], original[k]) for k in original)


def test_the_model_is_built_without_initialising_what_is_loaded():
    # Inside empty_modules the parameters live on the meta device and nn.init does nothing
    # (nn.Embedding's normal_ on the meta device imports torch._dynamo); outside, init runs as usual.
    from neurodebug.model.checkpoint import empty_modules
    from neurodebug.model.model import rope_frequencies

    c = ModelConfig.from_file(DATA / "cwm_config.json")
    with empty_modules():
        model = Transformer(c)
    assert {p.device.type for p in model.parameters()} | {model.inv_freq.device.type} == {"meta"}
    assert model.inv_freq.shape == rope_frequencies(c).shape == (c.head_dim // 2,)
    small = ModelConfig(vocab_size=300, dim=32, n_layers=1, n_heads=4, n_kv_heads=2, head_dim=8, intermediate_size=64)
    w = Transformer(small).tok_embeddings.weight
    assert w.device.type == "cpu" and w.std() > 0.5  # nn.Embedding's N(0, 1)


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_loading_imports_no_compiler(tmp_path, quantize):
    # The time to a first frame: loading a checkpoint on the CPU must not import torch._dynamo
    # (~1-2.5 s; benchmarks/startup.py measures the whole start).
    import subprocess
    import sys

    path = make_checkpoint(tmp_path / "c", tokenizer=False, vocab=512, tie=True)
    code = ("import sys; from neurodebug.model import load_model; "
            f"m = load_model({str(path)!r}, quantize={quantize!r}); m.logits([1, 2, 3]); "
            "print(sorted(n for n in ('torch._dynamo', 'transformers', 'triton', 'sympy') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_small_cpu_load_runs_on_one_thread_and_restores_the_count(tmp_path, monkeypatch):
    from neurodebug.model import checkpoint

    path = make_checkpoint(tmp_path / "c", tokenizer=False, vocab=512)
    seen = []
    real = checkpoint._load_weights
    monkeypatch.setattr(checkpoint, "_load_weights", lambda *a: (seen.append(torch.get_num_threads()), real(*a)))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        load_model(path)
        assert seen == [1] and torch.get_num_threads() == 2
        monkeypatch.setattr(checkpoint, "ONE_THREAD_PARAMS", 1)  # a "large" model keeps the threads
        load_model(path)
        assert seen == [1, 2]
    finally:
        torch.set_num_threads(before)

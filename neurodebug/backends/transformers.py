"""The transformers backend: Hugging Face's CwmForCausalLM on the same checkpoint, as a reference.

It is the independent implementation to check the local runtime against, not a fast path: a
step back crops Hugging Face's cache when the cache allows it and otherwise re-encodes.
"""

from __future__ import annotations

from typing import Sequence

from neurodebug.backends.base import Predictor, State
from neurodebug.confidence import Calibration
from neurodebug.errors import UserError


def sample(logits, temperature: float, top_p: float, generator) -> int:
    """Greedy at temperature 0, else nucleus sampling (top_p) at the given temperature."""
    import torch

    if temperature <= 0:
        return int(logits.argmax(-1))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sp, si = torch.sort(probs, descending=True)
        keep = torch.cumsum(sp, -1) - sp < top_p
        sp = sp * keep
        return int(si[torch.multinomial(sp / sp.sum(), 1, generator=generator)])
    return int(torch.multinomial(probs, 1, generator=generator))


class HFState(State):
    applies_constraint = True

    def __init__(self, predictor: "TransformersPredictor", prompt_ids: Sequence[int]):
        self.p = predictor
        self._ids = list(prompt_ids)
        self.cache = None
        self.cached = 0  # the cache holds positions 0 .. cached-1
        self.tokens_computed = 0

    @property
    def ids(self) -> list[int]:
        return self._ids

    def extend(self, ids: Sequence[int]) -> None:
        self._ids.extend(int(i) for i in ids)  # computed lazily, on the next generate

    def truncate(self, n: int) -> None:
        del self._ids[n:]
        self._crop(min(self.cached, n))

    def _crop(self, n: int) -> None:
        if n >= self.cached:
            return
        try:
            if n == 0:
                raise ValueError
            self.cache.crop(n)
            self.cached = n
        except Exception:  # noqa: BLE001 - a cache that cannot crop (sliding layers): start over
            self.cache, self.cached = None, 0

    def _forward(self, ids: list[int]):
        import torch
        from transformers import DynamicCache

        if self.cache is None:
            self.cache = DynamicCache(config=self.p.model.config)
        x = torch.tensor([ids], device=self.p.device)
        with torch.no_grad():
            out = self.p.model(input_ids=x, cache=self.cache, use_cache=True, logits_to_keep=1)
        self.cache = out.cache
        self.cached += len(ids)
        self.tokens_computed += len(ids)
        return out.logits[0, -1]

    gives_logprobs = True

    def generate(self, max_new_tokens, stop_ids=(), temperature=0.0, top_p=1.0, seed=None,
                 on_token=None, should_stop=None, *, constraint=None, logprobs=None) -> list[int]:
        import torch

        from neurodebug.model.generate import choice_logprob
        from neurodebug.model.runtime import restrict_logits

        gen = torch.Generator(device="cpu")
        gen.manual_seed(seed if seed is not None else torch.seed() % (2**31))
        if self.cached >= len(self._ids):
            self._crop(len(self._ids) - 1)
        logits = self._forward(self._ids[self.cached :])
        new: list[int] = []
        for _ in range(max_new_tokens):
            if should_stop is not None and should_stop():
                break
            raw, allowed = logits.float().cpu(), None
            if constraint is not None:
                allowed = constraint.allowed(new)
            t = sample(restrict_logits(raw, allowed), temperature, top_p, gen)
            if logprobs is not None:
                logprobs.append(choice_logprob(raw, allowed, t, temperature))
            new.append(t)
            self._ids.append(t)
            if on_token is not None:
                on_token(t)
            if t in stop_ids or len(new) == max_new_tokens:
                break
            logits = self._forward([t])
        return new


def _load(path: str, auto, torch):
    """CwmForCausalLM for a CWM checkpoint, also one whose config says model_type "llama" (as the
    published CWM config does) but has CWM's layer_types: Llama's class would ignore them."""
    import json
    from pathlib import Path

    cfg_file = Path(path) / "config.json"
    cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    if cfg.get("layer_types") and cfg.get("model_type") != "cwm":
        from transformers import CwmConfig, CwmForCausalLM

        skip = {"model_type", "architectures", "transformers_version", "dtype", "torch_dtype"}
        config = CwmConfig(**{k: v for k, v in cfg.items() if k not in skip})
        return CwmForCausalLM.from_pretrained(path, config=config, dtype=torch.float32)
    return auto.from_pretrained(path, dtype=torch.float32)


class TransformersPredictor(Predictor):
    def __init__(self, path: str, device: str = "cpu"):
        try:
            import torch
            from transformers import AutoModelForCausalLM
        except ImportError:
            raise UserError("The transformers backend needs the transformers package (pip install 'neurodebug[hf]').") from None
        from neurodebug.model.tokenizer import load_tokenizer

        try:
            self.model = _load(path, AutoModelForCausalLM, torch).to(device).eval()
        except Exception as e:  # noqa: BLE001 - whatever transformers raises, the user gets a sentence
            raise UserError(f"transformers cannot load the model at {path} ({str(e).splitlines()[0][:200]}).") from None
        self.device = device
        self.tokenizer = load_tokenizer(path)
        self.path = str(path)
        self.calibration = Calibration.load(self.path)
        self.name = f"transformers {path}"
        self.context_limit = getattr(self.model.config, "max_position_embeddings", None)

    def open(self, prompt_ids: Sequence[int]) -> HFState:
        return HFState(self, prompt_ids)

    def greedy_argmax(self, ids: Sequence[int]) -> list[int]:
        import torch

        x = torch.tensor([list(ids)], device=self.device)
        with torch.no_grad():
            logits = self.model(input_ids=x, use_cache=False).logits[0]
        return logits.argmax(-1).tolist()

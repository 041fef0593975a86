"""A small byte-level BPE tokenizer trained the way CWM's is, for small models.

    from neurodebug.training.tokenizer import train_bpe_tokenizer
    tok = train_bpe_tokenizer(texts, vocab_size=1024, path="out/")   # -> out/tokenizer.json

The result is a Hugging Face ``tokenizer.json`` that ``neurodebug.model.tokenizer.load_tokenizer``
reads (the runtime only reads tokenizers; training them lives here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from neurodebug.model.tokenizer import LLAMA3_PATTERN, HFTokenizer, cwm_special_tokens


def train_bpe_tokenizer(
    texts: Iterable[str], vocab_size: int, path: str | Path | None = None, min_frequency: int = 2
) -> HFTokenizer:
    """Train a small byte-level BPE ``tokenizer.json`` whose special tokens are CWM's 256.

    For small models trained the same way as CWM: same pre-tokenizer regex as Llama 3, same
    special-token names (at ids 0-255 here, which is why ids are always looked up by name).
    ``vocab_size`` counts the specials. Written to ``path`` when given.
    """
    from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
    from tokenizers import Tokenizer as _HF

    tok = _HF(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=cwm_special_tokens(),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if path is None:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "tokenizer.json"
            tok.save(str(out))
            return HFTokenizer(out, name="trained-bpe")
    out = Path(path)
    if out.is_dir() or not out.suffix:
        out.mkdir(parents=True, exist_ok=True)
        out = out / "tokenizer.json"
    tok.save(str(out))
    return HFTokenizer(out)

"""Tokenizers for CWM checkpoints: one interface over tiktoken and Hugging Face files.

CWM's vocabulary is Llama 3's byte-pair ranks (128,000 ordinary tokens in a tiktoken file
called ``tokenizer.model``) plus 256 special tokens at ids 128000-128255. Their names are
CWM's (``cwm/text/tokenizers.py`` in the public release), which differ from Llama 3's in a
few slots (128004 is ``<|pad|>``, 128100-128107 are the trace tokens). Smaller models that
are trained the same way ship a Hugging Face ``tokenizer.json`` whose special tokens carry
the same *names* at other ids, so callers always look special tokens up by name.

Ordinary text is encoded without special-token parsing: a user's string that happens to
contain ``<|frame_sep|>`` is encoded as the characters it is.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

#: Llama 3's pre-tokenizer regex (CWM uses it unchanged).
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

NUM_SPECIAL_TOKENS = 256

#: CWM's named special tokens, by offset from the first special id (128000 in CWM's vocabulary).
#: Every other offset N is ``<|reserved_special_token_N|>``.
CWM_NAMED_SPECIALS: dict[str, int] = {
    "<|begin_of_text|>": 0,
    "<|end_of_text|>": 1,
    "<|pad|>": 4,
    "<|start_header_id|>": 6,
    "<|end_header_id|>": 7,
    "<|eom_id|>": 8,
    "<|eot_id|>": 9,
    "<|frame_sep|>": 100,
    "<|action_sep|>": 101,
    "<|return_sep|>": 102,
    "<|call_sep|>": 103,
    "<|line_sep|>": 104,
    "<|exception_sep|>": 105,
    "<|arg_sep|>": 106,
    "<|trace_context_start|>": 107,
    "<|reasoning_thinking_start|>": 120,
    "<|reasoning_thinking_end|>": 121,
}

#: The names that stop generation (CWMInstructTokenizer.stop_tokens).
STOP_NAMES = ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")

# tiktoken's Rust core can fail on very long inputs; CWM encodes in chunks of this many chars.
_MAX_ENCODE_CHARS = 400_000


def cwm_special_tokens() -> list[str]:
    """CWM's 256 special token names, in id order (offset 0 first)."""
    names = [f"<|reserved_special_token_{i}|>" for i in range(NUM_SPECIAL_TOKENS)]
    for name, offset in CWM_NAMED_SPECIALS.items():
        names[offset] = name
    return names


class TokenizerError(ValueError):
    """A tokenizer file is missing or unusable, or a special token does not exist."""


class Tokenizer(ABC):
    """The interface every tokenizer here offers.

    encode(text) never parses special tokens; decode(ids) writes special tokens by name;
    special_id(name) raises TokenizerError (a ValueError) with a sentence if the name is unknown.
    """

    name: str
    vocab_size: int
    specials: dict[str, int]  # special token name -> id

    def __init__(self, name: str, vocab_size: int, specials: dict[str, int]):
        self.name = name
        self.vocab_size = vocab_size
        self.specials = dict(specials)
        self._special_names = {i: n for n, i in self.specials.items()}
        self.bos_id = self.special_id("<|begin_of_text|>")
        self.eos_id = self.special_id("<|end_of_text|>")
        self.stop_ids = [self.specials[n] for n in STOP_NAMES if n in self.specials]

    # -- implemented by each kind ------------------------------------------------------
    @abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str: ...

    # -- shared --------------------------------------------------------------------------
    def special_id(self, name: str) -> int:
        try:
            return self.specials[name]
        except KeyError:
            raise TokenizerError(f"The tokenizer {self.name} has no special token {name}.") from None

    def has_special(self, name: str) -> bool:
        return name in self.specials

    def is_special(self, token_id: int) -> bool:
        return token_id in self._special_names

    def special_name(self, token_id: int) -> str | None:
        """The name of a special token id, or None for an ordinary token."""
        return self._special_names.get(token_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, vocab_size={self.vocab_size})"


class TiktokenTokenizer(Tokenizer):
    """A tiktoken rank file (CWM's and Llama 3's ``tokenizer.model``) plus CWM's 256 specials."""

    def __init__(self, path: str | Path, name: str | None = None):
        import tiktoken

        path = Path(path)
        ranks = _read_tiktoken_ranks(path)
        first = len(ranks)
        specials = {tok: first + i for i, tok in enumerate(cwm_special_tokens())}
        self._enc = tiktoken.Encoding(
            name=path.name, pat_str=LLAMA3_PATTERN, mergeable_ranks=ranks, special_tokens=specials
        )
        super().__init__(name or str(path), self._enc.n_vocab, specials)

    def encode(self, text: str) -> list[int]:
        if len(text) <= _MAX_ENCODE_CHARS:
            return self._enc.encode_ordinary(text)
        chunks = [text[i : i + _MAX_ENCODE_CHARS] for i in range(0, len(text), _MAX_ENCODE_CHARS)]
        return [t for ids in self._enc.encode_ordinary_batch(chunks) for t in ids]

    def decode(self, ids: Sequence[int]) -> str:
        return self._enc.decode([i for i in ids if 0 <= i < self.vocab_size], errors="replace")

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The raw bytes of ``ids`` (a streaming caller decodes only complete UTF-8)."""
        return self._enc.decode_bytes([i for i in ids if 0 <= i < self.vocab_size])


class HFTokenizer(Tokenizer):
    """A Hugging Face ``tokenizer.json`` whose special tokens carry CWM's names."""

    def __init__(self, path: str | Path, name: str | None = None):
        from tokenizers import Tokenizer as _HF

        path = Path(path)
        try:
            self._tok = _HF.from_file(str(path))
        except Exception as e:  # the Rust side raises a plain Exception on a bad file
            raise TokenizerError(f"{path} is not a readable tokenizer.json ({e}).") from None
        # Special tokens inside user text stay text (tokenizers >= 0.19).
        self._tok.encode_special_tokens = True
        specials = {t.content: i for i, t in self._tok.get_added_tokens_decoder().items() if t.special}
        super().__init__(name or str(path), self._tok.get_vocab_size(with_added_tokens=True), specials)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([i for i in ids if 0 <= i < self.vocab_size], skip_special_tokens=False)


def _read_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """Parse a tiktoken rank file ("<base64 token> <rank>" per line) without tiktoken's cache."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{path} is not a readable tiktoken file ({e}).") from None
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        try:
            tok, rank = line.split()
            ranks[base64.b64decode(tok, validate=True)] = int(rank)
        except ValueError:
            raise TokenizerError(f"{path} is not a tiktoken file (line {lineno} is not '<base64> <rank>').") from None
    if not ranks:
        raise TokenizerError(f"{path} is an empty tiktoken file.")
    return ranks


def _is_tiktoken_file(path: Path) -> bool:
    """True for a tiktoken rank file, False for e.g. a binary sentencepiece model."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    first = head.split(b"\n", 1)[0].split()
    return len(first) == 2 and first[1].isdigit() and all(32 < c < 127 for c in first[0])


def llama3_tokenizer_path() -> Path:
    """Llama 3's ``tokenizer.model`` as shipped by the ``llama-models`` package."""
    try:
        import llama_models
    except ImportError:
        raise TokenizerError(
            "Llama 3's tokenizer needs the llama-models package (pip install llama-models)."
        ) from None
    path = Path(llama_models.__file__).parent / "llama3" / "tokenizer.model"
    if not path.is_file():
        raise TokenizerError(f"The llama-models package has no Llama 3 tokenizer at {path}.")
    return path


_LLAMA3: TiktokenTokenizer | None = None


def llama3_tokenizer() -> TiktokenTokenizer:
    """Llama 3's ranks with CWM's special tokens: CWM's exact vocabulary (loaded once)."""
    global _LLAMA3
    if _LLAMA3 is None:
        _LLAMA3 = TiktokenTokenizer(llama3_tokenizer_path(), name="llama3+cwm")
    return _LLAMA3


#: vocab_size of a checkpoint that uses CWM's vocabulary (Llama 3 ranks + 256 specials).
CWM_VOCAB_SIZE = 128_256


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The tokenizer of a checkpoint directory (or a tokenizer file).

    Picks, in order: a tiktoken ``tokenizer.model``; a Hugging Face ``tokenizer.json``; and,
    for a directory whose ``config.json`` has CWM's vocab_size but no tokenizer file, Llama 3's
    ranks from llama-models with CWM's specials. Raises TokenizerError with a sentence otherwise.
    """
    path = Path(path)
    if path.is_file():
        if path.name.endswith(".json"):
            return HFTokenizer(path)
        if _is_tiktoken_file(path):
            return TiktokenTokenizer(path)
        raise TokenizerError(f"{path} is neither a tiktoken file nor a tokenizer.json.")
    if not path.is_dir():
        raise TokenizerError(f"There is no tokenizer at {path}.")
    tiktoken_file = path / "tokenizer.model"
    if tiktoken_file.is_file() and _is_tiktoken_file(tiktoken_file):
        return TiktokenTokenizer(tiktoken_file)
    if (path / "tokenizer.json").is_file():
        return HFTokenizer(path / "tokenizer.json")
    if _config_vocab_size(path / "config.json") == CWM_VOCAB_SIZE:
        return llama3_tokenizer()
    raise TokenizerError(f"{path} has no tokenizer.model (tiktoken) or tokenizer.json.")


def _config_vocab_size(config: Path) -> int | None:
    try:
        return int(json.loads(config.read_text())["vocab_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None

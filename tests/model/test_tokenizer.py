"""The tokenizers against CWM's real vocabulary (Llama 3 ranks from llama-models + CWM's specials)."""

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from neurodebug.model.tokenizer import (
    CWM_NAMED_SPECIALS,
    HFTokenizer,
    TiktokenTokenizer,
    TokenizerError,
    cwm_special_tokens,
    llama3_tokenizer,
    llama3_tokenizer_path,
    load_tokenizer,
)
from neurodebug.training.tokenizer import train_bpe_tokenizer

# docs/trace-format.md's table, which is CWM's PROMPTING_GUIDE's.
CWM_IDS = {
    "<|begin_of_text|>": 128000,
    "<|end_of_text|>": 128001,
    "<|pad|>": 128004,
    "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007,
    "<|eom_id|>": 128008,
    "<|eot_id|>": 128009,
    "<|frame_sep|>": 128100,
    "<|action_sep|>": 128101,
    "<|return_sep|>": 128102,
    "<|call_sep|>": 128103,
    "<|line_sep|>": 128104,
    "<|exception_sep|>": 128105,
    "<|arg_sep|>": 128106,
    "<|trace_context_start|>": 128107,
}


@pytest.fixture(scope="session")
def tok():
    return llama3_tokenizer()


@pytest.fixture(scope="session")
def small_hf(tmp_path_factory):
    d = tmp_path_factory.mktemp("small_tok")
    texts = ["def f(n):\n    return n * 2\n", "x = {'a': [1, 2, 3]}\n", "héllo wörld ünïcode 日本\n"] * 20
    train_bpe_tokenizer(texts, vocab_size=600, path=d)
    return d


def test_llama3_ids_for_ordinary_text(tok):
    assert tok.encode("Okay") == [33413]
    assert tok.encode("") == []
    assert tok.vocab_size == 128_256


def test_cwm_special_ids(tok):
    for name, i in CWM_IDS.items():
        assert tok.special_id(name) == i, name
    assert tok.bos_id == 128000
    assert tok.stop_ids == [128001, 128008, 128009]
    # The unnamed ones are CWM's reserved tokens, numbered by their offset.
    assert tok.special_id("<|reserved_special_token_2|>") == 128002
    assert tok.special_id("<|reserved_special_token_255|>") == 128255
    assert tok.special_name(128100) == "<|frame_sep|>"
    assert tok.special_name(33413) is None
    names = cwm_special_tokens()
    assert len(names) == len(set(names)) == 256
    assert all(names[off] == n for n, off in CWM_NAMED_SPECIALS.items())


def test_missing_special_is_a_sentence(tok):
    with pytest.raises(ValueError, match=r"has no special token <\|nope\|>\."):
        tok.special_id("<|nope|>")


def test_encode_never_parses_special_tokens(tok):
    text = "a <|frame_sep|> b <|end_of_text|>"
    ids = tok.encode(text)
    assert not any(tok.is_special(i) for i in ids)
    assert tok.decode(ids) == text
    # decode writes real special ids by name
    assert tok.decode([128103, 33413, 128100]) == "<|call_sep|>Okay<|frame_sep|>"


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_decode_inverts_encode(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_load_tokenizer_picks_tiktoken_file(tmp_path, tok):
    os.symlink(llama3_tokenizer_path(), tmp_path / "tokenizer.model")
    t = load_tokenizer(tmp_path)
    assert isinstance(t, TiktokenTokenizer)
    assert t.encode("def f(x):\n    return x\n") == tok.encode("def f(x):\n    return x\n")
    assert t.special_id("<|frame_sep|>") == 128100
    assert load_tokenizer(tmp_path / "tokenizer.model").vocab_size == 128_256


def test_checkpoint_without_tokenizer_gets_llama3(tmp_path, tok):
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 128256}))
    assert load_tokenizer(tmp_path) is tok


def test_unusable_directories_are_sentences(tmp_path):
    with pytest.raises(TokenizerError, match="has no tokenizer.model"):
        load_tokenizer(tmp_path)
    with pytest.raises(TokenizerError, match="There is no tokenizer"):
        load_tokenizer(tmp_path / "missing")
    # a sentencepiece-style binary tokenizer.model is not taken for a tiktoken file
    (tmp_path / "tokenizer.model").write_bytes(b"\n\x0e\n\x05<unk>\x15\x00\x00\x00\x00\x18\x02")
    with pytest.raises(TokenizerError):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="not a readable tokenizer.json"):
        load_tokenizer(tmp_path)


def test_hf_tokenizer_json_with_cwm_names(small_hf):
    t = load_tokenizer(small_hf)
    assert isinstance(t, HFTokenizer)
    # CWM's names, at this tokenizer's own ids
    assert t.special_id("<|frame_sep|>") == 100
    assert t.special_id("<|begin_of_text|>") == t.bos_id == 0
    assert t.stop_ids == [1, 8, 9]
    assert 512 < t.vocab_size <= 600  # 256 specials + 256 bytes + merges
    text = 'x = {"a": "<|frame_sep|>"}\n  héllo 日本\n'
    ids = t.encode(text)
    assert not any(t.is_special(i) for i in ids)
    assert t.decode(ids) == text
    assert t.decode([t.special_id("<|call_sep|>")]) == "<|call_sep|>"


@settings(max_examples=40, deadline=None)
@given(st.text())
def test_hf_decode_inverts_encode(small_hf, text):
    t = load_tokenizer(small_hf)
    assert t.decode(t.encode(text)) == text


@pytest.mark.slow
def test_llama3_as_tokenizer_json_matches_tiktoken(tmp_path, tok):
    """transformers' tiktoken converter + CWM's specials gives the same ids through tokenizer.json."""
    pytest.importorskip("transformers")
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import TikTokenConverter

    hf = TikTokenConverter(str(llama3_tokenizer_path())).converted()
    hf.add_special_tokens([AddedToken(n, special=True, normalized=False) for n in cwm_special_tokens()])
    hf.save(str(tmp_path / "tokenizer.json"))
    t = load_tokenizer(tmp_path)
    assert isinstance(t, HFTokenizer)
    for name, i in CWM_IDS.items():
        assert t.special_id(name) == i
    for text in ["Okay", "def f(x):\n    return x  # héllo\n\n", '{"s": "\'straw\'"} 12345 日本']:
        assert t.encode(text) == tok.encode(text)

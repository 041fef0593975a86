"""Train the bundled model: a small CWM-architecture transformer on real traces of generated code.

    python -m neurodebug.training.train [--out DIR | --name RUN] [--minutes M] [--device cuda] [--size small]
    python -m neurodebug.training.train [--out DIR | --name RUN] --resume

The recipe, end to end:

1. data: :mod:`neurodebug.training.datagen` programs of ``--seed``, traced by the real tracer in ``--jobs``
   worker processes a few chunks ahead of training, so a GPU run is not spent waiting for data.
   Each sequence is trained on once an epoch: chunks of programs in order make blocks, whose
   sequences are sorted by length and cut into batches (little padding) in a seeded order.
   A held-out set comes from a different seed (``--seed + 1``).
2. tokenizer: a byte-level BPE (Hugging Face ``tokenizers``) trained on the first traces, with CWM's
   256 special tokens under CWM's names, saved as ``tokenizer.json`` (or ``--tokenizer FILE``).
3. sequences: exactly the codec's prompt + frames + end_of_text (:meth:`Codec.encode_trace`).
   The loss covers the tokens after the prompt (the trace), or every token with ``--loss all``.
4. model: ``model.model.Transformer`` with a CWM config (global and sliding-window layers,
   grouped-query attention), AdamW, linear warmup then cosine decay over the step or time budget,
   bf16 autocast on CUDA and on CPUs with native bfloat16.
5. every ``--eval-every`` steps: held-out loss and teacher-forced frame accuracy (the share of
   frames whose every token is the model's greedy choice given the real history); the checkpoint
   (config.json + model.safetensors + tokenizer.json, Hugging Face CWM layout) is written to
   ``--out``.
6. the state to resume from (weights, optimizer, step, clocks, data position, arguments) goes to
   ``--work``/state.pt at every evaluation, every ``--save-minutes`` and on SIGTERM/SIGINT,
   written whole or not at all; ``--resume`` goes on with the batch an uninterrupted run would
   have trained on next, on the same learning-rate schedule.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Model sizes: (dim, layers, heads, kv_heads, ffn, window). Layer types alternate with every
# third layer global (CWM uses every fourth); head_dim = dim // heads.
SIZES = {
    "test": (32, 3, 4, 2, 64, 16),
    "tiny": (128, 4, 4, 2, 352, 256),
    "small": (192, 6, 6, 2, 512, 256),
    "base": (256, 8, 8, 2, 704, 256),
    "large": (384, 8, 6, 2, 896, 256),
}

#: BPE vocabulary size including CWM's 256 special tokens.
DEFAULT_VOCAB = 1024
#: Longest training sequence (tokens); longer traces are dropped.
DEFAULT_MAX_LEN = 1024


# -- tokenizer ------------------------------------------------------------------------------------

#: Pre-tokenizer: words, single digits (arithmetic is learned digit by digit), punctuation, spaces.
PRETOKENIZE = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def text_pieces(traces) -> "iter[str]":
    """The texts the codec encodes for each trace: context, wire-form locals, sources, values."""
    from neurodebug.codec import Codec
    from neurodebug.trace.format import dump_json, wire_source
    from neurodebug.trace.frames import wire_locals

    for tr in traces:
        yield Codec.context(None, tr.source, tr.entry)  # context() uses no tokenizer state
        for f, w in zip(tr.frames, wire_locals(tr.frames)):
            if f.event in ("call", "line"):
                yield dump_json(w)
            yield wire_source(f.source)
            if f.arg is not None:
                yield dump_json(f.arg)


def train_tokenizer(traces, vocab_size: int, path: Path) -> None:
    """Byte-level BPE over the traces' texts, plus CWM's 256 special tokens (ids after the BPE's)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    from neurodebug.model.tokenizer import cwm_special_tokens

    specials = cwm_special_tokens()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(specials), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text_pieces(traces), trainer)
    tok.add_special_tokens([AddedToken(n, special=True, normalized=False) for n in specials])
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))


# -- data -------------------------------------------------------------------------------------------


@dataclass
class Example:
    ids: "np.ndarray"  # uint16 token ids
    start: int  # first position whose token is a target of the loss (the prompt's last token)
    spans: list[tuple[int, int]] | None  # token range of each frame (+ end_of_text); kept for evaluation


def encode(codec, trace, max_len: int, loss: str = "trace", spans: bool = True) -> Example | None:
    import numpy as np

    ids, sp = codec.encode_trace(trace)
    if len(ids) > max_len:
        return None
    start = 0 if loss == "all" else sp[0][0] - 1 if sp else len(ids) - 1
    return Example(np.asarray(ids, dtype=np.uint16), start, sp if spans else None)


#: Generator chunks (programs per chunk) and chunks per block. A block's sequences are sorted by
#: length and cut into batches, so that a batch pads little; 8 chunks of 50 programs (2 inputs
#: each) are ~800 traces, ~50 batches of 8,192 tokens.
CHUNK_PROGRAMS = 50
BLOCK_CHUNKS = 8
#: Rows of a --data file per block (the same ~800 sequences as a generated block).
BLOCK_ROWS = 2 * CHUNK_PROGRAMS * BLOCK_CHUNKS


@dataclass
class Position:
    """Where a run is in its data: epoch, block of the epoch, batches of that block done.

    A block's batches are a pure function of (seed, epoch, block), so this is all a resumed run
    needs to go on with the very batch an uninterrupted run would have trained on next, and never
    to see the batches it already trained on again."""

    epoch: int = 0
    block: int = 0
    batch: int = 0


def length_batches(block: list[Example], batch_tokens: int, rng: random.Random) -> list[list[Example]]:
    """A block cut into batches of sequences of about one length (at most ``batch_tokens`` padded
    tokens each, as ``collate`` pads), in a shuffled order."""
    batches: list[list[Example]] = []
    for e in sorted(block, key=lambda e: len(e.ids)):
        if batches and (len(batches[-1]) + 1) * padded_length(len(e.ids)) <= batch_tokens:
            batches[-1].append(e)
        else:
            batches.append([e])
    rng.shuffle(batches)
    return batches


class Batches:
    """The training batches of a run, in order from a :class:`Position`: each sequence of an
    epoch once, blocks one after the other, the next epoch when a source runs out."""

    def __init__(self, source, batch_tokens: int, seed: int, position: Position):
        self.source, self.batch_tokens, self.seed = source, batch_tokens, seed
        self.position = position
        self.current = self._block(position.epoch, position.block)

    def next(self) -> list[Example]:
        p = self.position
        while p.batch >= len(self.current):
            p.block, p.batch = p.block + 1, 0
            self.current = self._block(p.epoch, p.block)
            if self.current is None:  # the epoch is over
                p.epoch, p.block = p.epoch + 1, 0
                self.current = self._block(p.epoch, 0)
            if self.current is None:
                from neurodebug.errors import UserError

                raise UserError("The training data holds no usable sequence (none fits in --max-len?).")
        p.batch += 1
        return self.current[p.batch - 1]

    def _block(self, epoch: int, block: int) -> list[list[Example]] | None:
        examples = self.source.block(epoch, block)
        if examples is None:
            return None
        return length_batches(examples, self.batch_tokens, random.Random(f"{self.seed}/{epoch}/{block}"))


class FileSource:
    """Blocks of sequences read from --data files: BLOCK_ROWS of a seeded shuffle per epoch."""

    def __init__(self, examples: list[Example], seed: int):
        self.examples, self.seed = examples, seed

    def __len__(self) -> int:
        return len(self.examples)

    def block(self, epoch: int, block: int) -> list[Example] | None:
        order = list(range(len(self.examples)))
        random.Random(f"{self.seed}/{epoch}").shuffle(order)
        rows = order[block * BLOCK_ROWS: (block + 1) * BLOCK_ROWS]
        return [self.examples[i] for i in rows] or None


_WORKER: dict = {}


def _encode_work(task) -> list[tuple[bytes, int]]:
    """Worker: trace programs a..b of a seed and encode the kept traces (ids as uint16 bytes)."""
    from neurodebug.trace.frames import Trace
    from neurodebug.training import datagen

    seed, a, b, calls, tok_path, max_len, loss, style = task
    if _WORKER.get("path") != tok_path:
        from neurodebug.codec import Codec
        from neurodebug.model.tokenizer import load_tokenizer

        _WORKER.update(path=tok_path, codec=Codec(load_tokenizer(tok_path)))
    codec = _WORKER["codec"]
    out = []
    for _, d in datagen._work((seed, a, b, calls, style)):
        e = encode(codec, Trace.from_json_dict(d), max_len, loss, spans=False)
        if e is not None:
            out.append((e.ids.tobytes(), e.start))
    return out


class DataStream:
    """Blocks of encoded sequences of generated programs, in program order (every epoch the same).

    With jobs > 0, ``jobs`` worker processes trace and encode chunks ahead of the one asked for,
    at most ``ahead`` chunks: a fast consumer (a GPU) finds them ready, and a slow one (a CPU)
    does not have the workers fill memory and take its cores. jobs=0 traces inline.
    """

    def __init__(self, seed: int, programs: int, jobs: int, tok_path: str, max_len: int, loss: str,
                 style: int | None = None, ahead: int | None = None):
        self.tasks = [(seed, a, min(a + CHUNK_PROGRAMS, programs), 2, tok_path, max_len, loss, style)
                      for a in range(0, programs, CHUNK_PROGRAMS)]
        self.pool, self.pending = None, {}
        self.ahead = ahead or max(BLOCK_CHUNKS, 2 * jobs)
        if jobs > 0:
            import multiprocessing as mp

            ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            self.pool = ctx.Pool(jobs)

    def block(self, epoch: int, block: int) -> list[Example] | None:
        first = block * BLOCK_CHUNKS
        if first >= len(self.tasks):
            return None
        return [e for i in range(first, min(first + BLOCK_CHUNKS, len(self.tasks))) for e in self.chunk(i)]

    def chunk(self, i: int) -> list[Example]:
        """Chunk i's sequences (waiting for them), with the chunks after it put in hand."""
        import numpy as np

        if self.pool is None:
            res = _encode_work(self.tasks[i])
        else:
            for j in [j for j in self.pending if j < i]:  # a new epoch: what was ahead is not needed
                del self.pending[j]
            for j in range(i, min(i + self.ahead, len(self.tasks))):
                if j not in self.pending:
                    self.pending[j] = self.pool.apply_async(_encode_work, (self.tasks[j],))
            res = self.pending.pop(i).get()
        return [Example(np.frombuffer(raw, dtype=np.uint16), start, None) for raw, start in res]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool = None


def padded_length(n: int) -> int:
    """A batch's length for its longest sequence of n tokens: a multiple of 64 (few distinct shapes)."""
    return -(-n // 64) * 64


def collate(batch: list[Example], pad_id: int, device):
    """(inputs, targets) [B, T]; targets are -100 outside each sequence's loss range."""
    import numpy as np
    import torch

    T = padded_length(max(len(e.ids) for e in batch))
    x = np.full((len(batch), T), pad_id, dtype=np.int64)
    y = np.full((len(batch), T), -100, dtype=np.int64)
    for b, e in enumerate(batch):
        n = len(e.ids)
        x[b, :n] = e.ids
        y[b, e.start: n - 1] = e.ids[e.start + 1:]
    return torch.from_numpy(x).to(device, non_blocking=True), torch.from_numpy(y).to(device, non_blocking=True)


# -- model -----------------------------------------------------------------------------------------


def make_config(size: str, vocab_size: int, bos_id: int, eos_ids: list[int], max_len: int):
    from neurodebug.model.config import GLOBAL, SLIDING, ModelConfig

    dim, layers, heads, kv, ffn, window = SIZES[size]
    types = [GLOBAL if i % 3 == 0 or i == layers - 1 else SLIDING for i in range(layers)]
    return ModelConfig(
        vocab_size=vocab_size, dim=dim, n_layers=layers, n_heads=heads, n_kv_heads=kv, head_dim=dim // heads,
        intermediate_size=ffn, rope_theta=10000.0, rope_scaling=None, sliding_window=window, layer_types=types,
        max_position_embeddings=max(4096, max_len), tie_word_embeddings=False, bos_token_id=bos_id,
        eos_token_id=eos_ids,
    )


def shard_checkpoint(directory: Path, max_bytes: int) -> None:
    """Split ``model.safetensors`` into ``model-0000i-of-0000n.safetensors`` + index (Hugging Face's
    layout) when it is larger than ``max_bytes``; stale shards of an earlier save are removed."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    for f in directory.glob("model-*-of-*.safetensors"):
        f.unlink()
    index = directory / "model.safetensors.index.json"
    index.unlink(missing_ok=True)
    single = directory / "model.safetensors"
    if single.stat().st_size <= max_bytes:
        return
    with safe_open(str(single), framework="pt") as h:
        tensors = {k: h.get_tensor(k) for k in h.keys()}
    groups: list[dict] = [{}]
    size = 0
    for k, t in tensors.items():
        b = t.numel() * t.element_size()
        if groups[-1] and size + b > max_bytes - 4096:
            groups.append({})
            size = 0
        groups[-1][k] = t
        size += b
    n = len(groups)
    weight_map = {}
    total = 0
    for i, g in enumerate(groups, 1):
        name = f"model-{i:05d}-of-{n:05d}.safetensors"
        save_file(g, str(directory / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in g})
        total += sum(t.numel() * t.element_size() for t in g.values())
    index.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1) + "\n")
    single.unlink()


def init_weights(model, n_layers: int) -> None:
    import torch

    for name, p in model.named_parameters():
        if p.dim() == 2:
            std = 0.02 / math.sqrt(2 * n_layers) if name.endswith(("wo.weight", "w2.weight")) else 0.02
            torch.nn.init.normal_(p, 0.0, std)


def init_from_checkpoint(model, directory: str, log) -> None:
    """Start from a checkpoint's weights (fine-tuning); its architecture must be the model's."""
    from neurodebug.errors import UserError
    from neurodebug.model import ModelError, load_model

    try:
        trained = load_model(directory, dtype="float32").model
    except ModelError as e:
        raise UserError(f"--init: {e}") from None
    mine, theirs = model.state_dict(), trained.state_dict()
    wrong = [k for k in mine if k not in theirs or theirs[k].shape != mine[k].shape]
    if wrong:
        raise UserError(f"--init: the checkpoint in {directory} does not have this model's shape "
                        f"({len(wrong)} tensors differ, e.g. {wrong[0]}); pick the matching --size.")
    model.load_state_dict({k: theirs[k] for k in mine})
    log(f"initialised from {directory}")


def lr_at(progress: float, step: int, lr: float, warmup: int) -> float:
    """Linear warmup over ``warmup`` steps, then cosine from lr to lr/10 as progress goes 0 -> 1."""
    if step < warmup:
        return lr * (step + 1) / warmup
    p = min(1.0, max(0.0, progress))
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def evaluate_batchwise(model, examples: list[Example], pad_id: int, device, autocast, batch_tokens: int):
    """(mean loss per target token, teacher-forced frame accuracy) on ``examples``."""
    import torch
    import torch.nn.functional as F

    model.eval()
    tot_loss = tot_tok = 0.0
    frames_ok = frames = 0
    exs = sorted(examples, key=lambda e: len(e.ids))
    i = 0
    with torch.no_grad():
        while i < len(exs):
            n = max(1, batch_tokens // len(exs[i].ids))
            batch = exs[i: i + n]
            i += n
            x, y = collate(batch, pad_id, device)
            with autocast():
                logits = model(x)
            logits = logits.float()
            tot_loss += F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1), ignore_index=-100, reduction="sum").item()
            tot_tok += (y != -100).sum().item()
            pred = logits.argmax(-1)
            right = ((pred == y) | (y == -100)).cpu()
            for b, e in enumerate(batch):
                for s, t in e.spans:
                    frames += 1
                    # targets at positions s-1 .. t-2 predict tokens s .. t-1
                    frames_ok += bool(right[b, s - 1: t - 1].all())
    model.train()
    return tot_loss / max(1, tot_tok), frames_ok / max(1, frames)


# -- the training run --------------------------------------------------------------------------------


def default_run_dir(name: str) -> Path:
    """Where a run keeps everything when --out is not given: the user's cache
    ($XDG_CACHE_HOME, else ~/.cache)/neurodebug/train/NAME, outside any repository, so that a
    run survives a checkout being cleaned and is found by ``--resume`` from anywhere."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neurodebug" / "train" / name


def run(args) -> int:
    """The recipe, in its steps: tokenizer, data, model, the loop, the checkpoint."""
    import torch

    from neurodebug.codec import Codec
    from neurodebug.errors import UserError
    from neurodebug.model.tokenizer import load_tokenizer

    out = Path(args.out) if args.out else default_run_dir(args.name)
    work = Path(args.work) if args.work else out / "work"
    state = load_state(work / "state.pt") if args.resume else None
    if state is not None:
        args = resumed_args(args, state["args"])
    else:
        args = with_absolute_paths(args)
    _check_inputs(args)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but this machine has no usable CUDA device.")
    torch.manual_seed(args.seed)
    log = _Logger(work / "log.txt", quiet=args.quiet)
    if args.threads:
        torch.set_num_threads(args.threads)
    tok_path = _tokenizer_file(args, out, log)
    tokenizer = load_tokenizer(tok_path)
    trainer = _Trainer(args, out, work, device, tokenizer, log)
    trainer.load_data(Codec(tokenizer), tok_path)
    trainer.build_model(state)
    return trainer.train()


def load_state(path: Path) -> dict | None:
    """A run's saved state (written whole by ``save_atomically``), or None where there is none."""
    import torch

    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def save_atomically(write, path: Path) -> None:
    """``write(tmp)`` then rename over ``path``: a run killed mid-save (kill -9, power) leaves the
    previous file whole, never half of a new one."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def argument_defaults() -> dict:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return vars(p.parse_args([]))


#: Arguments that locate a run or say how to show it, rather than describe it: never taken from
#: its saved state.
_NOT_RESUMED = ("out", "work", "name", "resume", "quiet")


def resumed_args(args, saved: dict) -> argparse.Namespace:
    """The saved run's arguments, under those given now (any that differ from the defaults):
    ``--resume`` alone goes on with the run as it was started, ``--resume --minutes 90`` gives
    it a longer budget."""
    defaults = argument_defaults()
    merged = dict(vars(args))
    for k, v in saved.items():
        if k in defaults and k not in _NOT_RESUMED and merged.get(k) == defaults[k]:
            merged[k] = v
    return argparse.Namespace(**merged)


#: The arguments that name files a run reads (its data, tokenizer, starting weights).
_INPUT_PATHS = ("data", "heldout_data", "tokenizer", "init")


def with_absolute_paths(args) -> argparse.Namespace:
    """The arguments with the files a new run reads made absolute, as its state keeps them: so
    that ``--resume`` finds them from any directory."""
    absolute = lambda p: str(Path(p).resolve()) if p else p  # noqa: E731
    fixed = {k: [absolute(p) for p in v] if isinstance(v, list) else absolute(v)
             for k, v in vars(args).items() if k in _INPUT_PATHS and v}
    return argparse.Namespace(**{**vars(args), **fixed})


def _check_inputs(args) -> None:
    """One sentence for a file the run reads that is not there (a resumed run's paths are as it
    was started with; runs started before they were kept absolute are relative to that folder)."""
    from neurodebug.errors import UserError

    for key in _INPUT_PATHS:
        value = getattr(args, key, None)
        for path in value if isinstance(value, list) else [value] if value else []:
            if not Path(path).exists():
                raise UserError(f"--{key.replace('_', '-')} {path} is not there"
                                + (" (the run's saved path, relative to where it was started)." if args.resume
                                   and not Path(path).is_absolute() else "."))


def _tokenizer_file(args, out: Path, log) -> Path:
    """A given tokenizer file, the one of a run being resumed, or one trained on the first traces."""
    from neurodebug.trace.frames import Trace
    from neurodebug.training import datagen

    tok_path = out / "tokenizer.json"
    if args.tokenizer:
        if Path(args.tokenizer).resolve() != tok_path.resolve():
            tok_path.write_bytes(Path(args.tokenizer).read_bytes())
    elif not (args.resume and tok_path.is_file()):
        n = max(1, args.tokenizer_traces // 2)
        first = datagen.generate(args.seed + 2, n, jobs=args.jobs, style=args.style)
        log(f"tokenizer: training a {args.vocab}-token BPE on {len(first)} traces (seed {args.seed + 2})")
        train_tokenizer([Trace.from_json_dict(d) for d in first], args.vocab, tok_path)
    return tok_path


class _StopSignals:
    """SIGTERM and SIGINT (Ctrl-C) ask the loop to stop after the step it is in, so the state it
    saves is never half of an optimizer step; a second one stops at once."""

    def __init__(self):
        self.asked: int | None = None

    def __enter__(self):
        import signal
        import threading

        self.before = {}
        if threading.current_thread() is threading.main_thread():  # only there can Python take signals
            self.before = {s: signal.signal(s, self._ask) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def _ask(self, signum, frame) -> None:
        if self.asked is not None:
            raise KeyboardInterrupt
        self.asked = signum

    def __exit__(self, *exc) -> None:
        import signal

        for s, handler in self.before.items():
            signal.signal(s, handler)


class _Trainer:
    """One training run's state: data, model, optimiser, clocks and data position; ``train`` is
    the loop. Everything a resumed run needs is in ``work/state.pt`` (see ``_save_state``)."""

    def __init__(self, args, out: Path, work: Path, device, tokenizer, log):
        self.args, self.out, self.work, self.device, self.tokenizer, self.log = args, out, work, device, tokenizer, log
        self.pad_id = tokenizer.special_id("<|pad|>")
        self.budget_s = args.minutes * 60 if args.minutes else None
        self.step, self.best, self.tokens_seen = 0, None, 0
        # trained_s: time in training steps (tokens/s); elapsed_s: time in the loop, evaluations and
        # saves included (the --minutes budget and the schedule). Both go on across resumes.
        self.trained_s = self.elapsed_s = self.saved_at_s = 0.0
        self.state_path = work / "state.pt"

    # -- setup ---------------------------------------------------------------------------------
    def load_data(self, codec, tok_path: Path) -> None:
        """Training traces (files, or a generator whose workers fork before CUDA starts) and the
        held-out ones."""
        from neurodebug.training import datagen

        args, log = self.args, self.log

        def encode_rows(rs):
            from neurodebug.trace.frames import Trace

            exs = (encode(codec, Trace.from_json_dict(d), args.max_len, args.loss) for d in rs)
            return [e for e in exs if e is not None]

        if args.data:
            rows = [json.loads(line) for p in args.data for line in open(p)]
            self.stream = None
            self.source = FileSource(encode_rows(rows), args.seed)
            log(f"data: {len(rows)} traces from {', '.join(args.data)}, {len(self.source)} sequences")
        else:
            self.source = self.stream = DataStream(args.seed, args.programs, args.jobs, str(tok_path), args.max_len,
                                                   args.loss, style=args.style)
        held = datagen.generate(args.seed + 1, args.heldout_programs, jobs=0, calls_per_program=1, style=args.style)
        log(f"held-out: {len(held)} traces (seed {args.seed + 1})")
        self.held_ex = encode_rows(held)[: args.heldout_max]
        self.extra_held = encode_rows(json.loads(line) for line in open(args.heldout_data))[: args.heldout_max] \
            if args.heldout_data else []
        log(f"held-out sequences: {len(self.held_ex)}"
            + (f", {len(self.extra_held)} from {args.heldout_data}" if self.extra_held else ""))

    def build_model(self, state: dict | None) -> None:
        """The model (fresh, from --init, or resumed with its optimiser, clocks and data position)."""
        import torch

        from neurodebug.model.model import Transformer

        args, tok, device = self.args, self.tokenizer, self.device
        ends = [tok.special_id(n) for n in ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")]
        config = make_config(args.size, tok.vocab_size, tok.bos_id, ends, args.max_len)
        model = self.model = Transformer(config)
        init_weights(model, config.n_layers)
        if args.init and state is None:
            init_from_checkpoint(model, args.init, self.log)
        model.to(device)
        self.opt = make_optimizer(model, args.lr, args.weight_decay, device)
        position = self._restore(state) if state is not None else Position()
        self.n_params = sum(p.numel() for p in model.parameters())
        self.log(f"model: {args.size} {self.n_params / 1e6:.2f}M parameters, {config.n_layers} layers "
                 f"({config.n_global} global, {config.n_sliding} sliding, window {config.sliding_window}), "
                 f"{config.n_heads} heads / {config.n_kv_heads} kv heads, vocab {config.vocab_size}, device {device}, "
                 f"{autocast_dtype(args.precision, device)} matmuls")
        self.autocast = autocast_for(args.precision, device)
        self.fwd = torch.compile(model) if args.compile else model
        self.batches = Batches(self.source, args.batch_tokens, args.seed, position)

    def _restore(self, state: dict) -> Position:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.best, self.tokens_seen = state["step"], state["best"], state["tokens_seen"]
        self.trained_s, self.elapsed_s = state["trained_s"], state["elapsed_s"]
        self.saved_at_s = self.elapsed_s
        position = Position(**state["position"])
        self.log(f"resumed from step {self.step} ({self.elapsed_s / 60:.1f} min in; data epoch {position.epoch}, "
                 f"block {position.block}, batch {position.batch})")
        return position

    # -- the loop ------------------------------------------------------------------------------
    def train(self) -> int:
        """Steps until the budget is spent (then a final evaluation and checkpoint), or until a
        signal asks it to stop (then only the state: 128 + the signal's number, as a shell has it)."""
        bar = _Bar(self.args.steps, self.budget_s, quiet=self.args.quiet)
        if self.step == 0 and self.args.init:
            self._log_start()
        self.model.train()
        self.t_last = time.monotonic()
        try:
            with _StopSignals() as stop:
                while not self._done() and stop.asked is None:
                    self._one_step(bar)
        except KeyboardInterrupt:  # the second signal
            self.log(f"stopped at once in step {self.step + 1}; the state saved last stands")
            return 130
        finally:
            bar.close()
            if self.stream is not None:
                self.stream.close()
        if stop.asked is not None:
            self._save_state("stopped")
            self.log(f"stopped by signal {stop.asked} at step {self.step}; state saved in {self.work} "
                     f"(`--resume` goes on from here)")
            return 128 + stop.asked
        self._finish()
        return 0

    def _one_step(self, bar) -> None:
        loss, lr = self._train_step()
        self._clock(training=True)
        if self.step % 10 == 0:  # .item() waits for the GPU: not every step
            p = self.batches.position
            bar.update(self.step, self.elapsed_s, f"loss {loss.item():.3f} lr {lr:.1e} epoch {p.epoch} block {p.block}")
        if self.step % self.args.eval_every == 0:
            self._evaluate_and_save(loss)
        elif self.elapsed_s - self.saved_at_s >= self.args.save_minutes * 60:
            self._save_state("periodic")
        self._clock(training=False)

    def _finish(self) -> None:
        hl, fa = self._held_out()
        self.log(f"final step {self.step}: held-out loss {hl:.4f}, teacher-forced frame acc {fa:.3f}, "
                 f"{self.elapsed_s / 60:.1f} min" + self._extra())
        self.best = self.best or {"loss": hl, "frame_acc": fa, "step": self.step}
        self._save("final")
        self.log(f"checkpoint: {self.out}")

    def _clock(self, training: bool) -> None:
        now = time.monotonic()
        self.elapsed_s += now - self.t_last
        if training:
            self.trained_s += now - self.t_last
        self.t_last = now

    def _train_step(self):
        args = self.args
        lr = lr_at(self._progress(), self.step, args.lr, args.warmup)
        for g in self.opt.param_groups:
            g["lr"] = lr
        batch = self.batches.next()
        loss = optimizer_step(self.model, self.fwd, self.opt, collate(batch, self.pad_id, self.device), self.autocast)
        self.step += 1
        self.tokens_seen += sum(len(e.ids) - 1 - e.start for e in batch)
        return loss, lr

    def _evaluate_and_save(self, loss) -> None:
        hl, fa = self._held_out()
        if self.best is None or hl < self.best["loss"]:
            self.best = {"loss": hl, "frame_acc": fa, "step": self.step}
        p = self.batches.position
        self.log(f"step {self.step}: train loss {loss.item():.4f}, held-out loss {hl:.4f}, teacher-forced frame acc "
                 f"{fa:.3f}, {self.tokens_seen / max(1e-9, self.trained_s):.0f} target tok/s, data epoch {p.epoch} "
                 f"block {p.block}, {self.elapsed_s / 60:.1f} min" + self._extra())
        self._save("periodic")

    def _log_start(self) -> None:
        """The held-out numbers of the weights a fine-tune starts from: its curves' first point."""
        hl, fa = self._held_out()
        self.log(f"step 0 (the --init weights): held-out loss {hl:.4f}, teacher-forced frame acc {fa:.3f}"
                 + self._extra())

    def _held_out(self):
        return evaluate_batchwise(self.model, self.held_ex, self.pad_id, self.device, self.autocast, self.args.batch_tokens)

    def _extra(self) -> str:
        return _extra_heldout(self.model, self.extra_held, self.pad_id, self.device, self.autocast, self.args)

    def _done(self) -> bool:
        if self.args.steps and self.step >= self.args.steps:
            return True
        return self.budget_s is not None and self.elapsed_s >= self.budget_s

    def _progress(self) -> float:
        p = self.step / self.args.steps if self.args.steps else 0.0
        if self.budget_s:
            p = max(p, self.elapsed_s / self.budget_s)
        return p

    def _save(self, tag: str) -> None:
        """The checkpoint (in --out) and the state to resume from."""
        import torch

        from neurodebug.model.checkpoint import save_checkpoint

        args = self.args
        save_checkpoint(self.model, self.out, dtype=getattr(torch, args.save_dtype), extra_config={"torch_dtype": "float32"})
        shard_checkpoint(self.out, int(args.shard_mb * 2**20))
        self._save_state(tag)

    def _save_state(self, tag: str) -> None:
        """Weights, optimizer, clocks and data position in one file, written whole or not at all."""
        import torch

        self._clock(training=False)
        defaults = argument_defaults()
        args = {k: v for k, v in vars(self.args).items() if k in defaults}
        state = {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
                 "trained_s": self.trained_s, "elapsed_s": self.elapsed_s, "tokens_seen": self.tokens_seen,
                 "best": self.best, "position": vars(self.batches.position), "args": args}
        save_atomically(lambda tmp: torch.save(state, tmp), self.state_path)
        info = {"step": self.step, "trained_s": round(self.trained_s, 1), "elapsed_s": round(self.elapsed_s, 1),
                "tokens_seen": self.tokens_seen, "position": vars(self.batches.position), "size": args["size"],
                "params": self.n_params, "tag": tag, "best": self.best, "args": args}
        save_atomically(lambda tmp: tmp.write_text(json.dumps(info, indent=1, default=str)), self.work / "train_info.json")
        self.saved_at_s = self.elapsed_s


def make_optimizer(model, lr: float, weight_decay: float, device):
    """AdamW with weight decay on the matrices only."""
    import torch

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda")


def optimizer_step(model, fwd, opt, xy, autocast):
    """One training step on a collated batch: forward, loss on the targets, backward, gradient
    clipping, AdamW; the loss (a tensor: reading it waits for a GPU)."""
    import torch
    import torch.nn.functional as F

    x, y = xy
    with autocast():
        logits = fwd(x)
    loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.view(-1), ignore_index=-100)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def autocast_dtype(precision: str, device) -> str:
    """The matmuls' dtype: bfloat16 on CUDA and on a CPU with native bfloat16 (AVX512-BF16 or
    AMX, where it runs ~2.7x the float32 rate: benchmarks/train_speed.py), else float32."""
    import torch

    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bfloat16"
    return "bfloat16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "float32"


def autocast_for(precision: str, device):
    """A context manager factory: autocast to ``autocast_dtype``'s dtype, or nothing for float32."""
    import contextlib

    import torch

    dtype = autocast_dtype(precision, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if dtype == "float32":
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=getattr(torch, dtype))


def _extra_heldout(model, examples, pad_id, device, autocast, args) -> str:
    """The log's words for the ``--heldout-data`` set (empty without one)."""
    if not examples:
        return ""
    loss, acc = evaluate_batchwise(model, examples, pad_id, device, autocast, args.batch_tokens)
    return f"; {args.heldout_data}: loss {loss:.4f}, frame acc {acc:.3f}"


class _Logger:
    def __init__(self, path: Path, quiet: bool = False):
        self.path, self.quiet = path, quiet

    def __call__(self, msg: str) -> None:
        with open(self.path, "a") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)


class _Bar:
    """A rich progress bar on a terminal; nothing otherwise (the log lines say how it goes)."""

    def __init__(self, steps: int | None, budget_s: float | None, quiet: bool = False):
        self.p = None
        if quiet or not sys.stderr.isatty():
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.p = Progress(TextColumn("training"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                          TimeElapsedColumn(), TextColumn("{task.fields[info]}"), transient=False)
        self.by_time = not steps
        self.task = self.p.add_task("train", total=steps or budget_s or 1, info="")
        self.p.start()

    def update(self, step: int, elapsed: float, info: str) -> None:
        if self.p is not None:
            self.p.update(self.task, completed=elapsed if self.by_time else step, info=info)

    def close(self) -> None:
        if self.p is not None:
            self.p.stop()
            self.p = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="the run's folder: the checkpoint (config.json, model.safetensors, tokenizer.json) and, "
                   "in OUT/work, its state and log (default: $XDG_CACHE_HOME or ~/.cache, /neurodebug/train/NAME)")
    p.add_argument("--name", default="default", help="the run's name, its folder's without --out (default: default)")
    p.add_argument("--work", help="directory for the state to resume from and the log (default OUT/work)")
    p.add_argument("--size", choices=sorted(SIZES), default="small", help="model size (default small)")
    p.add_argument("--minutes", type=float, help="time budget; the learning-rate schedule follows it")
    p.add_argument("--steps", type=int, help="step budget (with --minutes, whichever ends first)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="data generator processes (0: inline)")
    p.add_argument("--seed", type=int, default=0, help="data seed (held-out data uses seed+1)")
    p.add_argument("--programs", type=int, default=400_000, help="how many programs to generate (2 inputs each)")
    p.add_argument("--style", type=int, default=1, help="surface style of generated code: 0 plain, 1 with comments, "
                   "docstrings, type hints (default; the shipped model's data), 2 style 1 plus exercise-style programs "
                   "(neurodebug/datagen_tasks.py; see datagen.STYLE)")
    p.add_argument("--data", nargs="*", help="use these traces (JSONL from neurodebug.training.datagen) instead of generating")
    p.add_argument("--tokenizer", help="use this tokenizer.json instead of training one")
    p.add_argument("--tokenizer-traces", type=int, default=4000, help="traces the tokenizer is trained on")
    p.add_argument("--vocab", type=int, default=DEFAULT_VOCAB)
    p.add_argument("--max-len", type=int, default=DEFAULT_MAX_LEN, help="longest training sequence in tokens")
    p.add_argument("--loss", choices=["trace", "all"], default="trace", help="loss on trace tokens only, or on all")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--batch-tokens", type=int, default=16384, help="padded tokens per batch")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--heldout-programs", type=int, default=150)
    p.add_argument("--heldout-data", metavar="FILE", help="also report loss and frame accuracy on these traces (JSONL), "
                   "e.g. the held-out packages of `neurodebug corpus`")
    p.add_argument("--heldout-max", type=int, default=200)
    p.add_argument("--save-dtype", choices=["float32", "float16", "bfloat16"], default="float16")
    p.add_argument("--shard-mb", type=float, default=15.0, help="split model.safetensors into shards of at most this many MiB")
    p.add_argument("--compile", action="store_true", help="torch.compile the training forward")
    p.add_argument("--resume", action="store_true", help="go on from OUT/work/state.pt where there is one, with the "
                   "saved run's arguments under any given now (a fresh run where there is none)")
    p.add_argument("--save-minutes", type=float, default=5.0, help="save the state to resume from at least this "
                   "often (minutes of the run; an interrupted run loses at most this much)")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto", help="matmul dtype: "
                   "auto is bfloat16 (autocast) on CUDA and on CPUs with native bfloat16, else float32")
    p.add_argument("--init", metavar="DIR", help="start from this checkpoint's weights (fine-tune; same --size)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true")


def main(argv: list[str] | None = None) -> int:
    from neurodebug.errors import UserError

    p = argparse.ArgumentParser(prog="python -m neurodebug.training.train", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        print(f"neurodebug: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

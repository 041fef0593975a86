"""`neurodebug model info PATH`: what a CWM checkpoint is and what its KV cache costs."""

from __future__ import annotations

import json

from neurodebug.errors import UserError

NAME = "model"
HELP = "Describe a CWM checkpoint: architecture, parameters, layer pattern, KV cache memory."
ORDER = 60

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
DEFAULT_SLACK = 512  # the runtime's default prefill chunk on a CPU (2048 on CUDA), which is also each ring's slack


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="architecture, parameters, dtype, layer pattern, KV bytes",
                          description="Describe a checkpoint from its config.json, and check that its weight "
                                      "files are whole and hold every tensor the config needs (headers only: no "
                                      "weights are loaded).")
    info.add_argument("path", help="checkpoint directory, its config.json, or a repo id in the local HF cache")
    info.add_argument("--context", type=int, default=None, help="KV cache bytes for this many tokens "
                      "(default: the model's max positions)")
    info.add_argument("--kv-dtype", choices=sorted(DTYPE_BYTES), default=None,
                      help="dtype of cached keys/values (default: the checkpoint's)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")


def describe(path: str, context: int | None = None, kv_dtype: str | None = None) -> dict:
    """The facts `model info` prints, as a dict (raises model.errors.ModelError)."""
    from pathlib import Path

    from neurodebug.model.config import GLOBAL, ModelConfig
    from neurodebug.model.hub import resolve
    from neurodebug.model.integrity import INDEX, check_weights

    p = Path(path).expanduser()
    source = p if p.is_file() else resolve(path) / "config.json"
    c = ModelConfig.from_file(source)
    # a checkpoint directory must hold its weights; a config.json named alone may stand alone
    has_weights = not p.is_file() or (source.parent / INDEX).is_file() or any(source.parent.glob("*.safetensors"))
    tensors = len(check_weights(source.parent, c)) if has_weights else None
    dtype = kv_dtype or (c.torch_dtype if c.torch_dtype in DTYPE_BYTES else "bfloat16")
    nbytes = DTYPE_BYTES[dtype]
    context = context or c.max_position_embeddings
    per_layer_token = 2 * c.n_kv_heads * c.head_dim * nbytes
    kinds = ["G" if t == GLOBAL else "S" for t in c.layer_types]
    unit = next(k for k in range(1, len(kinds) + 1) if len(kinds) % k == 0 and kinds == kinds[:k] * (len(kinds) // k))
    W = c.sliding_window
    return {
        "config": str(source),
        "weights": "none beside the config" if tensors is None else f"complete ({tensors} tensors, shapes as the config says)",
        "architecture": "CWM" if c.model_type == "cwm" else "CWM (config says model_type 'llama'; layer_types honoured)",
        "parameters": c.param_count(),
        "dtype": c.torch_dtype,
        "layers": c.n_layers, "global_layers": c.n_global, "sliding_layers": c.n_sliding, "sliding_window": W,
        "layer_pattern": " ".join(kinds[:unit]) + (f" x {len(kinds) // unit}" if len(kinds) > unit else ""),
        "hidden": c.dim, "intermediate": c.intermediate_size, "vocab": c.vocab_size,
        "heads": c.n_heads, "kv_heads": c.n_kv_heads, "head_dim": c.head_dim,
        "rope_theta": c.rope_theta, "rope_scaling": c.rope_scaling, "max_positions": c.max_position_embeddings,
        "kv_dtype": dtype,
        # While the context fits in the window every layer stores every token; past it only global layers grow.
        "kv_bytes_per_token": c.n_layers * per_layer_token,
        "kv_bytes_per_token_past_window": c.n_global * per_layer_token,
        "context": context,
        "kv_bytes": c.kv_bytes(context, nbytes),
        "ring_slack_slots": DEFAULT_SLACK if c.n_sliding else 0,
        "ring_slack_bytes": c.kv_bytes(context, nbytes, slack=DEFAULT_SLACK) - c.kv_bytes(context, nbytes),
    }


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.2f} {unit}"
        n /= 1024


def run(args) -> int:
    from neurodebug.model.errors import ModelError

    try:
        d = describe(args.path, args.context, args.kv_dtype)
    except ModelError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    W = d["sliding_window"]
    rope = f"theta {d['rope_theta']:g}"
    if d["rope_scaling"]:
        s = d["rope_scaling"]
        rope += f", llama3 scaling x{s['factor']:g} (original {s['original_max_position_embeddings']:,} positions)"
    rows = [
        ("checkpoint", d["config"]),
        ("weights", d["weights"]),
        ("architecture", d["architecture"]),
        ("parameters", f"{d['parameters'] / 1e9:.2f} B ({d['parameters']:,})"),
        ("dtype", str(d["dtype"])),
        ("layers", f"{d['layers']}: {d['global_layers']} global, {d['sliding_layers']} sliding"
                   + (f" (window {W:,})" if d["sliding_layers"] else "")),
        ("layer pattern", d["layer_pattern"] + "   (G global, S sliding window)"),
        ("attention", f"{d['heads']} query heads, {d['kv_heads']} KV heads, head_dim {d['head_dim']}"),
        ("sizes", f"hidden {d['hidden']}, MLP {d['intermediate']}, vocab {d['vocab']:,}"),
        ("rotary", rope + f"; max positions {d['max_positions']:,}"),
        (f"KV per token ({d['kv_dtype']})", f"{_size(d['kv_bytes_per_token'])}"
         + (f" within the window, {_size(d['kv_bytes_per_token_past_window'])} past it" if d["sliding_layers"] else "")),
        (f"KV at {d['context']:,} tokens", f"{_size(d['kv_bytes'])} ({d['kv_bytes']:,} bytes)"),
    ]
    if d["sliding_layers"]:
        g = min(d["context"], W)
        rows.append(("", f"= {d['global_layers']} global layers x {d['context']:,} positions"
                         f" + {d['sliding_layers']} sliding layers x {g:,} positions"))
        rows.append(("ring slack", f"+ {_size(d['ring_slack_bytes'])} ({d['ring_slack_slots']} extra slots per "
                                   "sliding layer, the runtime's prefill chunk)"))
    for r in rows:
        t.add_row(*r)
    Console().print(t)
    return 0

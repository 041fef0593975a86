"""`neurodebug serve`: the local model over HTTP, in Meta's /completions and vLLM's /v1/completions contracts."""

from __future__ import annotations

import os
import sys

from neurodebug.errors import UserError

NAME = "serve"
HELP = "serve the model over HTTP (Meta's CWM /completions and vLLM's /v1/completions)"
ORDER = 40


def add_arguments(p) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=5678, help="port (default 5678, as Meta's fgserve; 0 picks a free one)")
    p.add_argument("--cache-size", type=int, default=4, help="KV caches of recent requests kept for prefix reuse (default 4)")
    p.add_argument("--served-model-name", metavar="NAME",
                   help="the model's name in /v1/models; a /v1 request naming another is refused (as vLLM's option)")
    p.add_argument("--api-key", metavar="KEY", default=os.environ.get("NEURODEBUG_API_KEY"),
                   help="require 'Authorization: Bearer KEY' on every path but /health (default: $NEURODEBUG_API_KEY; "
                        "the environment keeps it out of the process list)")
    p.add_argument("--verbose", action="store_true", help="log every request")
    from neurodebug import options

    # the model this server runs: the session options that name a local model (the http client's are not)
    options.add_arguments(p, groups=("model",), exclude=("url", "served_model_name", "api_key", "timeout"))


def run(args) -> int:
    from neurodebug.serve.server import make_server

    from neurodebug import options

    opts = options.from_args(args)
    if opts.backend == "http":
        raise UserError("serve runs a model itself; use --backend local or transformers.")
    if args.cache_size < 1:
        raise UserError("--cache-size must be at least 1.")
    predictor = opts.make_predictor()
    try:
        server = make_server(predictor, args.host, args.port, cache_size=args.cache_size, verbose=args.verbose,
                             model_name=args.served_model_name, api_key=args.api_key or None)
    except OSError as e:
        raise UserError(f"Cannot listen on {args.host}:{args.port} ({e.strerror or e}).") from None
    print(f"neurodebug: serving {predictor.name} on {server.url} (POST /completions, /v1/completions; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

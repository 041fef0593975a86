"""`neurodebug lsp`: the language server (stdio by default, or TCP on 127.0.0.1)."""

from __future__ import annotations

NAME = "lsp"
HELP = "Run the language server for VS Code and other LSP editors (stdio, or --tcp PORT)."
ORDER = 80


def add_arguments(parser) -> None:
    parser.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    parser.add_argument("--tcp", type=int, metavar="PORT", help="listen on 127.0.0.1:PORT instead of stdio")
    parser.add_argument("--model", help="checkpoint directory or Hugging Face repo id (default: $NEURODEBUG_MODEL, "
                        "else the bundled model); the editor's settings override it")
    parser.add_argument("--backend", choices=("local", "transformers", "http"), help="how to run the model")
    parser.add_argument("--url", help="model server URL for --backend http")


def run(args) -> int:
    import os

    from neurodebug.errors import UserError

    if args.tcp is not None and not (0 < args.tcp < 65536):
        raise UserError(f"--tcp needs a port between 1 and 65535, not {args.tcp}.")
    # The server reads its defaults from the environment; the editor's settings override them.
    for value, var in ((args.model, "NEURODEBUG_MODEL"), (args.backend, "NEURODEBUG_BACKEND"), (args.url, "NEURODEBUG_URL")):
        if value:
            os.environ[var] = value
    from neurodebug.lsp.server import main

    main(tcp_port=args.tcp)
    return 0

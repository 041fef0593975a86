"""`neurodebug dap`: the debug adapter for VS Code, nvim-dap and other DAP clients (stdio, or --port N)."""

from __future__ import annotations

NAME = "dap"
HELP = "Run the debug adapter (Debug Adapter Protocol) over stdio, or on 127.0.0.1 with --port N."
ORDER = 85


def add_arguments(parser) -> None:
    parser.add_argument("--stdio", action="store_true", help="talk DAP over stdin/stdout (the default)")
    parser.add_argument("--port", type=int, metavar="N",
                        help="listen on 127.0.0.1:N instead; every connection is its own debug session")


def run(args) -> int:
    from neurodebug.errors import UserError

    if args.port is not None:
        if not 0 < args.port < 65536:
            raise UserError(f"--port needs a port between 1 and 65535, not {args.port}.")
        from neurodebug.dap.server import serve_tcp

        serve_tcp(args.port)
        return 0
    from neurodebug.dap.server import serve_stdio

    serve_stdio()
    return 0

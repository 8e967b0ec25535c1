"""``chainrule playground``: the web playground on this machine (needs the ``web`` extra)."""

from __future__ import annotations

import argparse
import errno
import importlib.util
import socket

from chainrule.errors import ConfigError

_NEEDED = ("starlette", "uvicorn", "websockets", "multipart")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("playground", help="watch a network learn in the browser; click a weight for "
                                                      "its chain rule")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    parser.set_defaults(handler=run_playground)


def _check_port(host: str, port: int) -> None:
    """Fail in one line before starting when the port cannot be bound."""
    if not 0 < port < 65536:
        raise ConfigError(f"--port must lie in 1..65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is taken; choose another with --port") from None
            raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def run_playground(args: argparse.Namespace) -> int:
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"the playground needs the web extra (missing {', '.join(missing)}): "
                          "pip install 'chainrule[web]'")
    _check_port(args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"chainrule: note: listening on {args.host}: other machines that reach it can use the playground")
    from chainrule.web import serve

    serve(args.host, args.port, open_browser=not args.no_browser)
    return 0

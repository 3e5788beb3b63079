"""``naga ui``: the store in a browser, live, behind a token (the work is in ``naga.web``)."""

from __future__ import annotations

import socket
from typing import Any

import click

from ..errors import UsageError

SHUTDOWN_S = 3
MISSING = "naga ui needs the ui extra: pip install 'naga-runs[ui]'"


def need_ui_extra() -> None:
    """One line saying what to install when Starlette or uvicorn is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError(MISSING) from None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@click.command("ui")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port (default: a free one)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option("--allow-edit", is_flag=True, help="Allow renaming, tagging and deleting runs.")
def ui(port: int, host: str, open_browser: bool, allow_edit: bool) -> None:
    """Serve the store as a live web dashboard; the URL printed carries the access token."""
    need_ui_extra()
    import uvicorn

    from ..store.layout import locate_store
    from ..web.app import create_app, new_token

    token = new_token()
    root = locate_store()
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/?token={token}"
    click.echo(f"naga ui: serving {root}{' (edits allowed)' if allow_edit else ''}")
    click.echo(url, nl=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    app = create_app(root, token, allow_edit=allow_edit)
    # a stream still open after this (a stuck client) is cut
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=SHUTDOWN_S,
    )
    changes = app.state.changes

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            changes.close_streams()  # open pages hold event streams: end them first
            super().handle_exit(sig, frame)

    server = Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()

"""The ``naga ui`` server: a Starlette app over one store, behind a token.

Every request carries the token: in the address once (``?token=...``, as ``naga ui`` prints it),
which the server answers with an HttpOnly cookie and a redirect to the same page without it, and
in that cookie afterwards. Anything else gets 403, whichever host it comes from: ``--host``
exposes the store deliberately, never without the token. Pages are served with a content
security policy that allows only this server's own scripts (``default-src 'self'``), and the
script puts record text in ``textContent`` only; artifacts are served as attachments unless they
are images a browser draws without running anything.

The JSON API (``data``) runs in Starlette's thread pool; each thread keeps its own ``Store``
(SQLite connections stay in the thread that opened them). Live updates are server-sent events
that say "the store changed" (``live.Changes``); the page asks again for what it shows.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import jsonsafe
from ..errors import NagaError, RunNotFound, UsageError
from ..sdk.artifacts import list_artifacts, safe_path
from ..store import Store
from ..tui.query import RowCache
from . import data
from .live import Changes

COOKIE = "naga_token"
CSP = "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
KEPT_ANSWERS = 8
QUICK_ROWS = 1000
EVENT_WAIT_S = 15.0  # a comment line this often keeps proxies and the browser's stream open
Scope = MutableMapping[str, Any]
ASGI = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def static_dir() -> str:
    return str(files("naga.web") / "static")


class TokenGate:
    """ASGI middleware: 403 without the token; the token in the query becomes a cookie."""

    def __init__(self, app: ASGI, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if secrets.compare_digest(query.get("token", ""), self.token):
            rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
            target = scope["path"] + (f"?{rest}" if rest else "")
            response: Response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        if not secrets.compare_digest(_cookie(scope), self.token):
            await Response("naga: a token is needed (the URL naga ui printed)\n", 403)(
                scope, receive, send
            )
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def _cookie(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header: no token
                return ""
            if COOKIE in jar:
                return jar[COOKIE].value
    return ""


class Api:
    """The endpoints, over the store at ``root``."""

    def __init__(self, root: str, allow_edit: bool, changes: Changes) -> None:
        self.root = root
        self.allow_edit = allow_edit
        self.changes = changes
        self._local = threading.local()
        self._rows = RowCache()  # rows by their index columns, shared by every request
        self._rows_lock = threading.Lock()
        self._answers: dict[tuple[str, str, int | None], tuple[int, bytes]] = {}

    def store(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.root)
        return store

    def info(self, request: Request) -> Response:
        return _json({"root": self.root, "allow_edit": self.allow_edit, "live": True})

    def runs(self, request: Request) -> Response:
        """The table; an answer is kept while the store does not change (a filter cleared, a
        second tab), and rows of runs that did not change are reused after it does."""
        q = request.query_params
        limit = int(q["limit"]) if q.get("limit", "").isdigit() else None
        asked = (q.get("where", ""), q.get("columns", ""), limit)
        if limit is not None and limit <= QUICK_ROWS:  # the first screen: never behind a big load
            return _json(data.runs_table(self.store(), *asked))
        version = self.changes.version
        with self._rows_lock:  # one table load at a time: they share the rows
            kept = self._answers.get(asked)
            if kept is not None and kept[0] == version:
                return _json_bytes(kept[1])
            body = _encode(data.runs_table(self.store(), *asked, cache=self._rows))
            self._answers[asked] = (version, body)
            while len(self._answers) > KEPT_ANSWERS:
                del self._answers[next(iter(self._answers))]
        return _json_bytes(body)

    def run(self, request: Request) -> Response:
        return _json(data.run_page(self.store(), request.path_params["run"]))

    def log(self, request: Request) -> Response:
        return _json(data.run_log(self.store(), request.path_params["run"]))

    def keys(self, request: Request) -> Response:
        store = self.store()
        ids = [store.resolve(r) for r in _list(request.query_params.get("runs", ""))]
        return _json({"keys": data.metric_keys(store, ids)})

    def metrics(self, request: Request) -> Response:
        q = request.query_params
        points = int(q["points"]) if q.get("points", "").isdigit() else data.CHART_POINTS
        points = max(10, min(points, 20000))
        runs, key, over = _list(q.get("runs", "")), q.get("key", ""), _list(q.get("over", ""))
        if over:
            return _json(data.metric_groups(self.store(), runs, key, over, points))
        return _json(data.metric_series(self.store(), runs, key, points))

    def summary(self, request: Request) -> Response:
        runs = _list(request.query_params.get("runs", ""))
        return _json({"runs": data.summaries(self.store(), runs)})

    def artifact(self, request: Request) -> Response:
        store = self.store()
        run_id = store.resolve(request.path_params["run"])
        name = request.path_params["name"]
        run_dir = store.layout.run_dir(run_id)
        # only what the listing shows: regular files, reached through no symbolic link
        if name not in dict(list_artifacts(run_dir)):
            return _json({"error": f"run {run_id} has no artifact {name!r}"}, 404)
        path = safe_path(run_dir, name)
        kind = data.image_type(name)
        headers = {"content-security-policy": "default-src 'none'; sandbox"}
        if kind is None:
            return FileResponse(
                path,
                media_type="application/octet-stream",
                filename=name.rsplit("/", 1)[-1],
                headers=headers,
            )
        return FileResponse(path, media_type=kind, headers=headers)

    async def edit(self, request: Request) -> Response:
        if not self.allow_edit:
            return _json({"error": "read-only: start naga ui --allow-edit to change runs"}, 403)
        if request.headers.get("content-type") != "application/json":
            return _json({"error": "send JSON"}, 415)
        body = await request.json()
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(self._edit, request.path_params["run"], body)
        return _json({"ok": True})

    def _edit(self, selector: str, body: dict[str, Any]) -> None:
        from ..store import edit

        store = self.store()
        run_id = store.resolve(selector)
        action, value = body.get("action"), body.get("value")
        if action == "rename":
            edit.rename(store.layout, run_id, value if isinstance(value, str) else None)
        elif action == "tag" and isinstance(value, str):
            edit.add_tag(store.layout, run_id, value)
        elif action == "untag" and isinstance(value, str):
            edit.remove_tag(store.layout, run_id, value)
        elif action == "note" and (value is None or isinstance(value, str)):
            edit.set_note(store.layout, run_id, value or "")  # blank or null clears it
        elif action == "delete":
            store.remove([run_id])
        else:
            raise UsageError(f"unknown edit {action!r}")

    async def events(self, request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            seen = self.changes.version
            yield f"event: version\ndata: {seen}\n\n"
            closing = self.changes.closing
            while not closing.is_set() and not await request.is_disconnected():
                now = await self.changes.wait(seen, EVENT_WAIT_S)
                if closing.is_set():
                    return
                if now == seen:
                    yield ": still here\n\n"
                    continue
                seen = now
                yield f"event: version\ndata: {now}\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"cache-control": "no-store"}
        )


def _list(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def _encode(doc: Any) -> bytes:
    text = jsonsafe.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:  # a record's bytes that were not UTF-8 read as lone surrogates
        from .report import SURROGATE

        return SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def _json(doc: Any, status: int = 200) -> Response:
    return _json_bytes(_encode(doc), status)


def _json_bytes(body: bytes, status: int = 200) -> Response:
    return Response(
        body, status, media_type="application/json", headers={"cache-control": "no-store"}
    )


def _errors(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """A NagaError as a JSON answer with what went wrong: 404 for a run that is not there."""
    import inspect

    if inspect.iscoroutinefunction(handler):

        async def run_async(request: Request) -> Any:
            try:
                return await handler(request)
            except NagaError as exc:
                return _json({"error": str(exc)}, 404 if isinstance(exc, RunNotFound) else 400)

        return run_async

    def run(request: Request) -> Any:
        try:
            return handler(request)
        except NagaError as exc:
            return _json({"error": str(exc)}, 404 if isinstance(exc, RunNotFound) else 400)
        except (FileNotFoundError, IsADirectoryError):
            return _json({"error": "not found"}, 404)

    return run


def create_app(root: str, token: str, *, allow_edit: bool = False) -> Starlette:
    """The app serving the store at ``root`` to whoever has ``token``."""
    changes = Changes(root)
    api = Api(root, allow_edit, changes)
    static = static_dir()

    def index(request: Request) -> Response:
        return FileResponse(f"{static}/index.html", headers={"cache-control": "no-store"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        changes.start()
        try:
            yield
        finally:
            changes.stop()

    routes = [
        Route("/", index),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/info", _errors(api.info)),
        Route("/api/runs", _errors(api.runs)),
        Route("/api/runs/{run}", _errors(api.run)),
        Route("/api/runs/{run}/log", _errors(api.log)),
        Route("/api/runs/{run}/artifacts/{name:path}", _errors(api.artifact)),
        Route("/api/runs/{run}/edit", _errors(api.edit), methods=["POST"]),
        Route("/api/keys", _errors(api.keys)),
        Route("/api/metrics", _errors(api.metrics)),
        Route("/api/summary", _errors(api.summary)),
        Route("/api/events", api.events),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.changes = changes  # the server ends the event streams with it when it stops
    app.add_middleware(TokenGate, token=token)
    return app


def new_token() -> str:
    return secrets.token_urlsafe(24)

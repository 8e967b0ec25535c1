"""The playground's web server: a Starlette app with one WebSocket per page, run by uvicorn.

``GET /`` serves the page and ``/static/`` its assets (shipped in the package, no CDN);
``/ws?session=ID`` carries the messages of :mod:`chainrule.web.protocol`; ``POST
/upload?session=ID`` takes a CSV file as a multipart form (fields ``file``, ``x1``, ``x2``,
``label``); the session keeps the whole table, and the ``columns`` message plots others.
A session outlives its connection: a page that reconnects with its id finds
its data, network and epoch as they were (a session left alone for a day is dropped).

While playing, a task trains for part of each frame interval (whole epochs) and sends a
frame; the receive loop runs between frames, so pause, explain and the rest answer at
once. Work runs in the event loop's thread: one learner, one process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from chainrule.errors import ChainruleError
from chainrule.web import tools
from chainrule.web.data import MAX_UPLOAD_BYTES, read_csv_table
from chainrule.web.protocol import ProtocolError, parse
from chainrule.web.session import Session

__all__ = ["create_app", "Sessions", "STATIC"]

STATIC = Path(__file__).parent / "static"
MAX_SESSIONS = 32
IDLE_SECONDS = 24 * 3600


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such a number (a diverged loss) travels as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(message: dict[str, Any]) -> str:
    try:
        return json.dumps(message, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(message))


class Sessions:
    """The live sessions by id; the least recently seen one goes when there are too many."""

    def __init__(self) -> None:
        self.by_id: dict[str, Session] = {}

    def get_or_create(self, session_id: str | None) -> Session:
        now = time.monotonic()
        for key in [k for k, s in self.by_id.items() if now - s.last_seen > IDLE_SECONDS]:
            del self.by_id[key]
        session = self.by_id.get(session_id or "")
        if session is None:
            if len(self.by_id) >= MAX_SESSIONS:
                oldest = min(self.by_id.values(), key=lambda s: s.last_seen)
                oldest.playing = False
                del self.by_id[oldest.id]
            session = Session()
            self.by_id[session.id] = session
        session.last_seen = now
        return session


class Connection:
    """One page's socket on a session, and the task that trains while playing."""

    def __init__(self, websocket: WebSocket, session: Session) -> None:
        self.ws = websocket
        self.session = session
        self.trainer: asyncio.Task | None = None
        self.fps = 30
        self.closed = False

    async def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            await self.ws.send_text(dumps(message))

    def start(self) -> None:
        if self.trainer is None or self.trainer.done():
            self.trainer = asyncio.create_task(self._train())

    def stop(self) -> None:
        if self.trainer is not None:
            self.trainer.cancel()
            self.trainer = None

    async def _train(self) -> None:
        session = self.session
        while session.playing and not self.closed:
            interval = 1.0 / self.fps
            start = time.perf_counter()
            try:
                session.run(0.5 * interval)
                frame = session.frame()
            except Exception as error:  # a diverged network (ChainruleError) or a bug: stop playing, say why
                session.playing = False
                text = str(error) if isinstance(error, ChainruleError) else \
                    f"training stopped: {type(error).__name__}: {error}"
                await self.send({"type": "error", "message": text, "request": "play"})
                await self.send({"type": "playing", "playing": False})
                await self.send(session.frame())
                return
            await self.send(frame)
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - start)))

    # ------------------------------------------------------------ one message
    async def handle(self, text: str) -> None:
        request_id = None
        kind = None
        try:
            message = parse(text)
            request_id, kind = message.get("id"), message["type"]
            replies = self.act(message)
        except (ProtocolError, ChainruleError) as error:
            replies = [{"type": "error", "message": str(error), "request": kind}]
        except Exception as error:  # a bug must not end the session: report it, keep the socket
            replies = [{"type": "error", "message": f"internal error ({type(error).__name__}: {error})",
                        "request": kind}]
        for reply in replies:
            if request_id is not None:
                reply["id"] = request_id
            await self.send(reply)

    def act(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The replies to one parsed message (changing the session as it says)."""
        s, kind = self.session, message["type"]
        example = message.get("example", "current")
        if kind == "setup":
            s.configure(message["setup"])
            return [s.state(), s.frame()]
        if kind == "play":
            self.fps = message.get("fps", self.fps)
            s.playing = True
            self.start()
            return [{"type": "playing", "playing": True}]
        if kind == "pause":
            s.playing = False
            self.stop()
            return [{"type": "playing", "playing": False}, s.frame()]
        if kind == "step":
            s.playing = False
            self.stop()
            s.step(message.get("epochs", 1))
            return [s.frame()]
        if kind == "reset":
            s.playing = False
            self.stop()
            s.reset(message.get("seed"))
            return [s.state(), s.frame()]
        if kind == "sample":
            return [{"type": "sample", "sample": s.choose_sample(message["index"])}]
        if kind == "explain":
            return [tools.explain(s, message["wrt"], example)]
        if kind == "trace":
            return [tools.trace(s, message.get("example", "mazur"))]
        if kind == "check":
            return [tools.check(s, message["wrt"], message["formula"], example)]
        if kind == "upload":
            s.load_table(read_csv_table(message["csv"].encode("utf-8")))
            return self._plot_columns(message)
        if kind == "columns":
            return self._plot_columns(message)
        if kind == "export":
            if message["format"] == "model":
                return [{"type": "export", "format": "model", "filename": "playground.safetensors",
                         "data": base64.b64encode(tools.export_model(s)).decode("ascii")}]
            if message["format"] == "json":
                return [{"type": "export", "format": "json", "filename": "playground-weights.json",
                         "weights": tools.export_weights(s)}]
            raise ProtocolError(f"export format must be 'model' or 'json', got {message['format']!r}")
        if kind == "import":
            try:
                raw = base64.b64decode(message["data"], validate=True)
            except ValueError:
                raise ProtocolError("import data must be the model file in base64") from None
            return [tools.import_model(s, raw), s.frame()]
        if kind == "state":
            return [s.state(), s.frame()]
        return [{"type": "pong"}]


    def _plot_columns(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Plot the uploaded table's chosen columns; when they are refused the table is kept and
        the state (listing its columns) follows the error, so the page can offer the others."""
        s = self.session
        try:
            s.choose_columns(message.get("x1", "0"), message.get("x2", "1"), message.get("label", "-1"))
        except ChainruleError as error:
            return [{"type": "error", "message": str(error), "request": message["type"]}, s.state(), s.frame()]
        return [s.state(), s.frame()]


def _same_origin(websocket: WebSocket) -> bool:
    """A page from another site must not drive the playground (cross-site WebSocket hijacking)."""
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser
        return True
    host = websocket.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host


def create_app(sessions: Sessions | None = None) -> Starlette:
    """The ASGI application; ``sessions`` lets a test share the registry with the app."""
    registry = sessions or Sessions()

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def socket(websocket: WebSocket) -> None:
        if not _same_origin(websocket):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        session = registry.get_or_create(websocket.query_params.get("session"))
        previous = getattr(session, "connection", None)
        if previous is not None:  # the page reconnected (or a second tab took over): one writer
            previous.closed = True
            previous.stop()
        conn = Connection(websocket, session)
        session.connection = conn  # type: ignore[attr-defined]
        await conn.send(session.state())
        await conn.send(session.frame())
        if session.playing:
            conn.start()
        try:
            while True:
                text = await websocket.receive_text()
                session.last_seen = time.monotonic()
                await conn.handle(text)
        except WebSocketDisconnect:
            pass
        finally:
            conn.closed = True
            conn.stop()

    async def upload(request: Request) -> JSONResponse:
        session = registry.by_id.get(request.query_params.get("session", ""))
        if session is None:
            return JSONResponse({"type": "error", "message": "unknown session: open the page first"}, 404)
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_UPLOAD_BYTES + 4096:
            return JSONResponse({"type": "error", "message": f"the upload has {length} bytes; the playground "
                                 f"takes tables up to {MAX_UPLOAD_BYTES} bytes"}, 413)
        try:
            async with request.form(max_files=1, max_fields=8, max_part_size=MAX_UPLOAD_BYTES + 1) as form:
                file = form.get("file")
                if file is None or isinstance(file, str):
                    raise ProtocolError("the form needs a 'file' field holding the CSV table")
                raw = await file.read(MAX_UPLOAD_BYTES + 1)
                columns = {k: str(form.get(k, d)) for k, d in (("x1", "0"), ("x2", "1"), ("label", "-1"))}
            table = read_csv_table(raw)
        except (ProtocolError, ChainruleError) as error:
            return JSONResponse({"type": "error", "message": str(error)}, 400)
        except Exception as error:  # starlette's MultiPartException and friends: a malformed form
            return JSONResponse({"type": "error", "message": f"malformed upload: {error}"}, 400)
        s = session
        s.load_table(table)  # kept even when the columns below are refused: the page offers the others
        try:
            s.choose_columns(**columns)
            reply = JSONResponse({"type": "uploaded", "rows": len(s.points.x), "classes": s.points.classes,
                                  "columns": list(s.points.columns), "table": s.table_info()})
        except ChainruleError as error:
            reply = JSONResponse({"type": "error", "message": str(error), "table": s.table_info()}, 400)
        conn = getattr(s, "connection", None)
        if conn is not None and not conn.closed:
            await conn.send(s.state())
            await conn.send(s.frame())
        return reply

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [Route("/", index), Route("/favicon.ico", no_icon), WebSocketRoute("/ws", socket),
              Route("/upload", upload, methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes)
    app.state.sessions = registry
    return app

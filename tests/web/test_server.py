"""The playground server through Starlette's TestClient: every message type, bad messages, uploads, reconnect.

Numbers are compared with chainrule's library calls made here independently (explain,
check, trace, load) and, for the penalties, with finite differences of E + E_pen.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")
from starlette.testclient import TestClient  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.web.data import MAX_UPLOAD_BYTES  # noqa: E402
from chainrule.web.protocol import MESSAGES  # noqa: E402
from chainrule.web.server import Sessions, create_app  # noqa: E402

SMALL = {"data": {"samples": 120}, "network": {"hidden": [{"units": 3, "activation": "tanh"}]}}


@pytest.fixture
def client():
    sessions = Sessions()
    with TestClient(create_app(sessions)) as c:
        c.sessions = sessions
        yield c


def until(ws, kind, request=None):
    """The next message of type ``kind`` (answering ``request``, the id sent, when given); others are skipped."""
    for _ in range(2000):
        m = ws.receive_json()
        if m["type"] == kind and (request is None or m.get("id") == request):
            return m
    raise AssertionError(f"no {kind} message")


@contextlib.contextmanager
def opened(client, session=None):
    """A socket on a new (or the named) session, and the state it was greeted with."""
    with client.websocket_connect("/ws" + (f"?session={session}" if session else "")) as ws:
        ws.sent = []
        send = ws.send_json
        ws.send_json = lambda m: (ws.sent.append(m), send(m))
        state = ws.receive_json()
        assert state["type"] == "state"
        assert ws.receive_json()["type"] == "frame"
        try:
            yield ws, state
        finally:
            ws.send_json({"type": "pause"})


def test_page_and_assets_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    for asset in ("app.js", "app.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    # Offline: no asset from another host (the SVG namespace is a name, not a download).
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page.text)
    assert set(re.findall(r"https?://[\w./-]+", client.get("/static/app.js").text)) == {"http://www.w3.org/2000/svg"}
    # One definition per derivative, chainrule's: the page evaluates no activation, loss or derivative.
    assert not re.findall(r"Math\.(?:exp|expm1|log|log1p|tanh|pow|sinh|cosh)\b", client.get("/static/app.js").text)


def test_the_page_s_assets_are_package_data():
    """A wheel (a plain, not editable, install) carries every file of web/static/: pyproject's
    package-data names them."""
    import fnmatch
    import tomllib
    from pathlib import Path

    from chainrule.web.server import STATIC

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("not run from a source checkout")
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["chainrule"]
    package = STATIC.parents[1]
    files = [f.relative_to(package).as_posix() for f in STATIC.rglob("*") if f.is_file()]
    assert {"web/static/index.html", "web/static/app.js", "web/static/app.css"} <= set(files)
    assert [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)] == []


def test_every_message_type_answers(client):
    with opened(client) as (ws, state):
        s = client.sessions.by_id[state["session"]]
        ws.send_json({"type": "setup", "setup": SMALL, "id": "a"})
        st = until(ws, "state")
        assert st["id"] == "a" and st["setup"]["data"]["samples"] == 120 and st["network"]["sizes"] == [2, 3, 1]
        ws.send_json({"type": "step", "epochs": 2, "id": 2})
        assert until(ws, "frame", 2)["epoch"] == 2
        ws.send_json({"type": "play", "fps": 60})
        assert until(ws, "playing")["playing"] is True
        first = until(ws, "frame")["epoch"]
        assert until(ws, "frame")["epoch"] > first
        ws.send_json({"type": "pause"})
        assert until(ws, "playing")["playing"] is False
        ws.send_json({"type": "sample", "index": 5})
        sample = until(ws, "sample")["sample"]
        assert sample["index"] == 5 and sample["inputs"] == s.x_train[5].tolist()

        ws.send_json({"type": "explain", "wrt": "w5"})
        got = until(ws, "explain")
        net, x, target, loss = s.current()
        ref = cr.explain(net, "w5", x, target, loss)
        assert got["value"] == ref.backprop and got["agree"]
        assert got["sample"]["index"] == 5

        ws.send_json({"type": "trace", "example": "mazur"})
        lines = until(ws, "trace")["lines"]
        assert any("E_total" in line["text"] and "= 0.298371109" in line["text"] for line in lines)

        ws.send_json({"type": "check", "wrt": "w5", "formula": "(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1",
                      "example": "mazur"})
        assert until(ws, "check")["correct"] is True
        ws.send_json({"type": "check", "wrt": "w5", "formula": "out_h1", "example": "current"})
        verdict = until(ws, "check")
        assert verdict["correct"] is False and verdict["hint"]

        ws.send_json({"type": "export", "format": "json"})
        weights = until(ws, "export")["weights"]
        np.testing.assert_array_equal(weights["layers"][0]["w"], s.model.layers()[0][0].weight.data)
        ws.send_json({"type": "export", "format": "model"})
        raw = base64.b64decode(until(ws, "export")["data"])
        ws.send_json({"type": "reset", "seed": 9})
        until(ws, "state")
        assert s.epoch == 0 and s.setup["seed"] == 9
        ws.send_json({"type": "import", "data": base64.b64encode(raw).decode()})
        until(ws, "state")
        for (mine, _), layer in zip(s.model.layers(), weights["layers"]):
            np.testing.assert_array_equal(mine.weight.data, layer["w"])

        ws.send_json({"type": "upload", "csv": "a,b,c\n" + "\n".join(f"{i},{i * i % 7},{i % 3}" for i in range(30))})
        st = until(ws, "state")
        assert st["setup"]["data"]["kind"] == "csv" and st["data"]["columns"] == ["a", "b"]
        assert st["setup"]["data"]["classes"] == 3 and st["setup"]["network"]["loss"] == "cross_entropy"
        ws.send_json({"type": "columns", "x1": "b", "x2": "a", "label": "c"})
        assert until(ws, "state")["data"]["columns"] == ["b", "a"]
        ws.send_json({"type": "state"})
        until(ws, "state")
        ws.send_json({"type": "ping"})
        assert until(ws, "pong")
        sent = {m["type"] for m in ws.sent}
    assert sent == set(MESSAGES)  # a new message type must be added here


@pytest.mark.parametrize("message, says", [
    ("not json", "must be JSON"),
    ("[1, 2]", "JSON object"),
    ({"type": "fly"}, "unknown message type"),
    ({"type": "step", "epochs": "3"}, "must be an integer"),
    ({"type": "step", "epochs": 0}, "must lie in 1..100"),
    ({"type": "explain"}, "needs the field 'wrt'"),
    ({"type": "pause", "extra": 1}, "has no field 'extra'"),
    ({"type": "explain", "wrt": "w99"}, "w99"),
    ({"type": "check", "wrt": "w5", "formula": "__import__('os')"}, ""),
    ({"type": "setup", "setup": {"network": {"output_activation": "tanh", "loss": "cross_entropy"}}},
     "the output activation must be 'softmax'"),
    ({"type": "setup", "setup": {"data": {"classes": 3}}}, "binary cross-entropy"),
    ({"type": "setup", "setup": {"data": {"kind": "csv"}}}, "upload a CSV"),
    ({"type": "setup", "setup": {"data": {"noise": float("nan")}}}, "finite"),
    ({"type": "setup", "setup": {"network": {"hidden": [{"units": 99, "activation": "tanh"}]}}}, "units"),
    ({"type": "import", "data": "not base64!"}, "base64"),
    ({"type": "import", "data": base64.b64encode(b"\x80\x04pickle").decode()}, ""),
    ({"type": "export", "format": "zip"}, "'model' or 'json'"),
    ({"type": "sample", "index": 99999}, "sample index"),
    ({"type": "columns", "x1": "0", "x2": "1", "label": "2"}, "no table uploaded"),
    ({"type": "columns", "x1": "0", "x2": "1"}, "needs the field 'label'"),
    ({"type": "upload", "csv": "a,b\n1,2\n"}, "label column"),
    ({"type": "upload", "csv": "a,b,c\n1,2,x\n"}, "line 2"),
    ({"type": "upload", "csv": "1,2,0\n" * (MAX_UPLOAD_BYTES // 6 + 10)}, "bytes"),
])
def test_bad_messages_get_an_error_and_the_session_survives(client, message, says):
    with opened(client) as (ws, state):
        ws.send_text(message if isinstance(message, str) else json.dumps(message))
        error = until(ws, "error")
        assert says in error["message"]
        ws.send_json({"type": "step", "id": 1})
        assert until(ws, "frame", 1)["epoch"] == 1


@pytest.mark.parametrize("output, loss", [("tanh", "cross_entropy"), ("identity", "cross_entropy"),
                                          ("sigmoid", "cross_entropy"), ("identity", "binary_cross_entropy"),
                                          ("softmax", "binary_cross_entropy"), ("relu", "binary_cross_entropy")])
def test_a_wrong_pair_is_refused_with_fits_message(client, output, loss):
    from chainrule.errors import ConfigError
    from chainrule.losses import check_pair

    with pytest.raises(ConfigError) as by_the_table:
        check_pair(output, loss)
    classes = 3 if loss == "cross_entropy" else 2
    x, y = np.random.default_rng(0).standard_normal((12, 2)), np.arange(12) % classes
    net = cr.MLP([2, 3, classes if loss == "cross_entropy" else 1], activation="tanh",
                 output_activation=None if output == "identity" else output, seed=0)
    with pytest.raises(ConfigError) as by_fit:
        cr.fit(net, x, y, loss=loss, epochs=1, progress=False)
    assert str(by_fit.value) == str(by_the_table.value)
    with opened(client) as (ws, _):
        ws.send_json({"type": "setup", "setup": {"data": {"classes": classes},
                                                 "network": {"output_activation": output, "loss": loss}}})
        assert until(ws, "error")["message"] == str(by_fit.value)


def test_step_through_the_network_on_screen_matches_finite_differences(client):
    """trace on the current network at the chosen sample: its E_total is the loss of that one
    sample, and each dE/dw it lists is a central finite difference of that loss."""
    with opened(client) as (ws, state):
        s = client.sessions.by_id[state["session"]]
        ws.send_json({"type": "setup", "setup": SMALL})
        until(ws, "state")
        ws.send_json({"type": "step", "epochs": 3})
        until(ws, "frame")
        ws.send_json({"type": "sample", "index": 7})
        until(ws, "sample")
        ws.send_json({"type": "trace", "example": "current"})
        got = until(ws, "trace")
    values = {line["name"]: line["value"] for line in got["lines"]}
    x, t = s.f_train[7:8], s.t_train[7:8]
    assert values["E_total"] == pytest.approx(s.loss(x, t), rel=1e-12)
    names = s.names()["weights"]
    checked = 0
    for layer, rows in enumerate(names):
        for i, row in enumerate(rows):
            for j, name in enumerate(row):
                w = s.model.layers()[layer][0].weight.data
                old, eps = w[i, j], 1e-6
                w[i, j] = old + eps
                up = s.loss(x, t)
                w[i, j] = old - eps
                down = s.loss(x, t)
                w[i, j] = old
                assert values[f"dE_d{name}"] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9), name
                checked += 1
    assert checked == 2 * 3 + 3 * 1


def test_reconnect_resumes_the_session(client):
    with opened(client) as (ws, state):
        ws.send_json({"type": "setup", "setup": SMALL})
        until(ws, "state")
        ws.send_json({"type": "step", "epochs": 4, "id": 4})
        before = until(ws, "frame", 4)
    with opened(client, state["session"]) as (ws, again):
        assert again["session"] == state["session"] and again["setup"]["data"]["samples"] == 120
        assert again["history"][-1][0] == 4 and again["history"][-1][1] == before["train_loss"]
        ws.send_json({"type": "step"})
        assert until(ws, "frame")["epoch"] == 5
    with opened(client, "no-such-session") as (ws, other):
        assert other["session"] != state["session"]


def _table(rng, rows=80):
    """A table of five columns: a, b, c (numbers), kind (labels 3, 5, 7), flag (labels 0, 1)."""
    values = rng.normal(size=(rows, 3))
    kind = np.array([3, 5, 7])[rng.integers(0, 3, rows)]
    flag = (values[:, 0] * values[:, 2] > 0).astype(int)
    text = "a,b,c,kind,flag\n" + "\n".join(f"{a:.17g},{b:.17g},{c:.17g},{k},{f}" for (a, b, c), k, f in
                                            zip(values, kind, flag))
    return text, values, kind, flag


def test_any_two_columns_of_a_table_are_plotted_labelled_by_a_third(client):
    rng = np.random.default_rng(3)
    text, values, kind, flag = _table(rng)
    with opened(client) as (ws, state):
        s = client.sessions.by_id[state["session"]]
        # The default columns (a, b plotted, the last one, flag, as labels).
        ws.send_json({"type": "upload", "csv": text, "id": 1})
        st = until(ws, "state", 1)
        assert st["data"]["table"] == {"columns": ["a", "b", "c", "kind", "flag"], "rows": 80, "chosen": [0, 1, 4]}
        assert st["setup"]["data"]["kind"] == "csv" and st["data"]["classes"] == 2
        # Other columns of the same table, by index and by name, without sending it again.
        ws.send_json({"type": "columns", "x1": "2", "x2": "a", "label": "kind", "id": 2})
        st = until(ws, "state", 2)
        assert st["data"]["columns"] == ["c", "a"] and st["data"]["table"]["chosen"] == [2, 0, 3]
        assert st["setup"]["data"]["classes"] == 3 and st["setup"]["network"]["loss"] == "cross_entropy"
        picked = values[:, [2, 0]]
        expected = (picked - picked.mean(axis=0)) / picked.std(axis=0)
        np.testing.assert_allclose(s.points.x, expected, rtol=1e-12)
        np.testing.assert_array_equal(s.points.y, np.searchsorted([3, 5, 7], kind))
        assert until(ws, "frame", 2)["epoch"] == 0
        # A refused choice names the reason and leaves the plotted columns as they were.
        ws.send_json({"type": "columns", "x1": "a", "x2": "b", "label": "c", "id": 3})
        assert "whole numbers" in until(ws, "error", 3)["message"]
        assert until(ws, "state", 3)["data"]["table"]["chosen"] == [2, 0, 3]
        ws.send_json({"type": "columns", "x1": "a", "x2": "a", "label": "flag", "id": 4})
        assert "three different columns" in until(ws, "error", 4)["message"]
        ws.send_json({"type": "columns", "x1": "a", "x2": "zz", "label": "flag", "id": 5})
        assert "no column 'zz'" in until(ws, "error", 5)["message"]
        np.testing.assert_array_equal(s.points.chosen, [2, 0, 3])


def test_a_table_whose_default_label_column_is_refused_is_kept_for_choosing(client):
    rng = np.random.default_rng(4)
    text, values, kind, flag = _table(rng)
    text = "\n".join(",".join(row.split(",")[::-1]) for row in text.split("\n"))  # the last column is now 'a'
    with opened(client) as (ws, state):
        sid = state["session"]
        r = _upload(client, sid, text)
        assert r.status_code == 400 and "whole numbers" in r.json()["message"]
        assert r.json()["table"] == {"columns": ["flag", "kind", "c", "b", "a"], "rows": 80, "chosen": None}
        st = until(ws, "state")  # pushed to the page, which offers the columns
        assert st["data"]["table"]["chosen"] is None and st["setup"]["data"]["kind"] == "circle"
        ws.send_json({"type": "columns", "x1": "a", "x2": "c", "label": "flag", "id": 1})
        st = until(ws, "state", 1)
        assert st["setup"]["data"]["kind"] == "csv" and st["data"]["columns"] == ["a", "c"]
        s = client.sessions.by_id[sid]
        np.testing.assert_array_equal(s.points.y, flag)
        # Columns chosen in the form are used at once.
        good = _upload(client, sid, text, x1="b", x2="c", label="kind")
        assert good.status_code == 200 and good.json()["columns"] == ["b", "c"] and good.json()["classes"] == 3


def test_reconnect_while_playing_resumes_play(client):
    with opened(client) as (ws, state):
        ws.send_json({"type": "setup", "setup": SMALL})
        until(ws, "state")
        ws.send_json({"type": "play", "fps": 60})
        until(ws, "playing")
        epoch = until(ws, "frame")["epoch"]
        ws.sent.clear()  # dropped without a pause: the connection just goes
        ws.send_json = lambda m: None
    with opened(client, state["session"]) as (ws, again):
        assert again["playing"] is True and again["history"][-1][0] >= epoch
        assert until(ws, "frame")["epoch"] > epoch  # training goes on on the new connection
        ws.send_json({"type": "pause", "id": "p"})
        assert until(ws, "playing", "p")["playing"] is False


def test_nothing_is_read_or_written_outside_what_the_user_chose(client, tmp_path, monkeypatch):
    """Uploads, exports and imports leave no file behind (their private temporary folders are
    removed at once), and the static route serves the page's assets only."""
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with opened(client) as (ws, state):
        rows = "\n".join(f"{i},{(i * 7) % 11},{i % 2}" for i in range(40))
        ws.send_json({"type": "upload", "csv": rows, "id": 1})
        until(ws, "state", 1)
        assert _upload(client, state["session"], rows).status_code == 200
        ws.send_json({"type": "export", "format": "model", "id": 2})
        data = until(ws, "export", 2)["data"]
        ws.send_json({"type": "import", "data": data, "id": 3})
        until(ws, "state", 3)
        ws.send_json({"type": "import", "data": base64.b64encode(b"junk" * 10).decode(), "id": 4})
        until(ws, "error", 4)
    assert list(scratch.iterdir()) == []
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py",
                 "/static//etc/passwd", "/server.py", "/static/"):
        r = client.get(path)
        assert r.status_code == 404 and "import" not in r.text, path


def test_a_diverging_network_stops_play_with_a_message(client):
    with opened(client) as (ws, state):
        ws.send_json({"type": "setup", "setup": {
            "network": {"hidden": [{"units": 8, "activation": "relu"}], "output_activation": "identity",
                        "loss": "mse"},
            "optimizer": {"name": "sgd", "lr": 10.0}}})
        until(ws, "state")
        ws.send_json({"type": "play", "fps": 60})
        assert "diverged" in until(ws, "error")["message"]
        assert until(ws, "playing")["playing"] is False
        frame = ws.receive_json()  # the diverged network's frame, losses as null when not finite
        loss = frame["train_loss"]
        assert frame["type"] == "frame" and (loss is None or not np.isfinite(loss) or loss > 1e6)
        ws.send_json({"type": "reset", "id": "r"})
        until(ws, "state", "r")
        ws.send_json({"type": "setup", "setup": {"optimizer": {"lr": 0.01}}})
        until(ws, "state")
        ws.send_json({"type": "step", "id": "s"})
        assert np.isfinite(until(ws, "frame", "s")["train_loss"])


def test_a_page_from_another_site_is_refused(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()


def _upload(client, session, body, **fields):
    return client.post(f"/upload?session={session}", files={"file": ("t.csv", body, "text/csv")}, data=fields)


def test_uploads_good_too_large_and_malformed(client):
    with opened(client) as (ws, state):
        sid = state["session"]
        rng = np.random.default_rng(0)
        rows = "\n".join(f"{a:.3f},{b:.3f},{int(a * b > 0) + 1}" for a, b in rng.normal(size=(60, 2)))
        good = _upload(client, sid, "p,q,label\n" + rows, x1="p", x2="q", label="label")
        assert good.status_code == 200 and good.json()["rows"] == 60 and good.json()["classes"] == 2
        s = client.sessions.by_id[sid]
        assert s.setup["data"]["kind"] == "csv" and np.allclose(s.points.x.mean(axis=0), 0)
        assert until(ws, "state")["data"]["columns"] == ["p", "q"]

        big = _upload(client, sid, "1,2,0\n" * (MAX_UPLOAD_BYTES // 6 + 10))
        assert big.status_code in (400, 413) and "bytes" in big.json()["message"]
        bad = _upload(client, sid, "p,q,label\n1,2,0\n3,oops,1\n" + rows)
        assert bad.status_code == 400 and "line 3" in bad.json()["message"]
        for body, says in [("p,q,label\n" + rows.replace(",1\n", ",1.5\n"), "whole numbers"),
                           ("p,q,label\n1,2,0\n", "rows"), ("", "empty"), (b"\xff\xfe\x00", "UTF-8")]:
            r = _upload(client, sid, body)
            assert r.status_code == 400 and says in r.json()["message"], r.json()
        assert _upload(client, sid, "p,q,label\n" + rows, x1="zz").json()["message"].startswith("no column 'zz'")
        assert client.post(f"/upload?session={sid}", content=b"garbage",
                           headers={"content-type": "multipart/form-data; boundary=x"}).status_code == 400
        assert _upload(client, "nobody", rows).status_code == 404
        assert s.points.x.shape == (60, 2)  # the refused uploads left the good table in place


def test_penalties_are_the_gradient_of_the_penalised_error():
    """dE/dw after the L1/L2 step equals a finite difference of E + l1 sum|w| + l2/2 sum w^2."""
    from chainrule.web.session import Session

    s = Session({"data": {"samples": 40}, "network": {"hidden": [{"units": 3, "activation": "tanh"}],
                                                       "l1": 0.01, "l2": 0.05}})
    x, t = s.f_train[:8], s.t_train[:8]
    s.step_fn(x, t)
    s._penalty()
    w = s.model.layers()[0][0].weight
    grad = w.grad.copy()

    def total() -> float:
        data = s.loss(x, t)
        weights = [lin.weight.data for lin, _ in s.model.layers()]
        return data + sum(0.01 * np.abs(a).sum() + 0.025 * (a ** 2).sum() for a in weights)

    eps = 1e-6
    for idx in [(0, 0), (1, 2)]:
        old = w.data[idx]
        w.data[idx] = old + eps
        up = total()
        w.data[idx] = old - eps
        down = total()
        w.data[idx] = old
        assert grad[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5)


def test_cli_refuses_a_taken_port_in_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "chainrule", "playground", "--no-browser", "--port", str(port)],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"port {port}" in r.stderr


def _listening_on(port: int) -> set[str] | None:
    """The IPv4 addresses a socket listens on at ``port``, from Linux's /proc/net/tcp (None elsewhere)."""
    try:
        lines = open("/proc/net/tcp").read().splitlines()[1:]
    except OSError:
        return None
    found = set()
    for line in lines:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_cli_serves_the_page_on_the_port_asked(tmp_path):
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "chainrule", "playground", "--no-browser", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "chainrule playground" in page.text
        assert _listening_on(port) in ({"127.0.0.1"}, None)  # this machine only (None: no /proc to read)
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran


def test_cli_without_the_web_extra_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    from chainrule.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    assert main(["playground", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "chainrule[web]" in err

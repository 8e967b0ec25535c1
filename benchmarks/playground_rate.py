"""Screen updates per second of the playground while a 2-8-8-1 network trains on 500 points.

Run from the repository root: ``python -m benchmarks.playground_rate [--seconds 5] [--fps 30]``.

The server runs here (uvicorn in a thread, on a free port). Two figures are measured:

- **page**: headless Chromium (Debian's ``chromium``, driven by Playwright) shows the
  page; the count of frames it has drawn (heatmaps, neuron maps, weights, loss curve:
  ``window.playground.frames``) is read before and after ``--seconds`` of play;
- **socket**: a bare WebSocket client counts the frames the server sends, for machines
  without a browser.

The set-up: 625 points of the circle set with a fifth held out (500 to train on),
features x1 and x2, hidden layers of 8 and 8 tanh units, one sigmoid output with binary
cross-entropy, Adam, batches of 10. The goal is >= 20 updates per second on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import threading
import time

SETUP = {"data": {"kind": "circle", "classes": 2, "samples": 625, "test_fraction": 0.2, "noise": 0.1},
         "features": ["x1", "x2"],
         "network": {"hidden": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "tanh"}],
                     "output_activation": "sigmoid", "loss": "binary_cross_entropy"},
         "optimizer": {"name": "adam", "lr": 0.03, "batch_size": 10}}


def start_server():
    import uvicorn

    from chainrule.web.server import Sessions, create_app

    sessions = Sessions()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(sessions), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, port, sessions


def socket_rate(port: int, seconds: float, fps: int) -> dict[str, float]:
    """Frames per second a plain WebSocket client receives while playing."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
        ws.recv()
        ws.recv()
        ws.send(json.dumps({"type": "setup", "setup": SETUP}))
        while json.loads(ws.recv())["type"] != "frame":
            pass
        ws.send(json.dumps({"type": "play", "fps": fps}))
        frames, first, start = 0, None, time.perf_counter()
        while time.perf_counter() - start < seconds:
            message = json.loads(ws.recv())
            if message["type"] == "frame":
                frames += 1
                first = message["epoch"] if first is None else first
                last = message["epoch"]
        elapsed = time.perf_counter() - start
        ws.send(json.dumps({"type": "pause"}))
    return {"updates_per_s": frames / elapsed, "epochs_per_s": (last - first) / elapsed}


def page_rate(port: int, seconds: float, fps: int, chromium: str) -> dict[str, float]:
    """Frames per second drawn by the page in headless Chromium while playing."""
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("window.playground.frames > 0")
        page.evaluate(f"window.playground.ws.send(JSON.stringify({{type: 'setup', setup: {json.dumps(SETUP)}}}))")
        page.wait_for_function("window.playground.names && window.playground.names.sizes.join('-') === '2-8-8-1'")
        page.evaluate(f"window.playground.ws.send(JSON.stringify({{type: 'play', fps: {fps}}}))")
        page.wait_for_function("window.playground.playing")
        time.sleep(0.5)
        before, epoch0, start = page.evaluate("[window.playground.frames, window.playground.frame.epoch]") + \
            [time.perf_counter()]
        time.sleep(seconds)
        after, epoch1 = page.evaluate("[window.playground.frames, window.playground.frame.epoch]")
        elapsed = time.perf_counter() - start
        page.evaluate("window.playground.ws.send(JSON.stringify({type: 'pause'}))")
        browser.close()
    return {"updates_per_s": (after - before) / elapsed, "epochs_per_s": (epoch1 - epoch0) / elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to play for each figure (default 5)")
    parser.add_argument("--fps", type=int, default=30, help="frames per second asked of the server (default 30)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    server, thread, port, _ = start_server()
    try:
        rows = [("socket", socket_rate(port, args.seconds, args.fps))]
        try:
            rows.append(("page (Chromium)", page_rate(port, args.seconds, args.fps, args.chromium)))
        except Exception as error:  # no browser here: the socket figure stands alone
            print(f"page figure skipped: {type(error).__name__}: {str(error).splitlines()[0]}")
    finally:
        server.should_exit = True
        thread.join(10)
    print(f"playground, 2-8-8-1 on 500 points, {args.fps} frames/s asked, {args.seconds:g} s each")
    for name, r in rows:
        verdict = "meets" if r["updates_per_s"] >= 20 else "misses"
        print(f"  {name:16s} {r['updates_per_s']:6.1f} updates/s ({verdict} the 20/s goal), "
              f"{r['epochs_per_s']:6.1f} epochs/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

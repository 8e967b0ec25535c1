"""The playground: watch a network learn in the browser, and click any weight to see its chain rule.

``chainrule playground`` (or :func:`serve`) starts a local web server (Starlette on uvicorn,
the ``web`` extra) whose page shows TensorFlow Playground's data sets, network editor and
live decision boundaries, plus chainrule's learner tools: click a weight for its
``explain`` derivation, step through ``trace`` on Mazur's network or the one on screen,
and have ``check`` judge a formula. Every number comes from chainrule in the server
process; the page's JavaScript only draws.

Modules: :mod:`~chainrule.web.config` (the set-up), :mod:`~chainrule.web.data` (points,
CSV uploads), :mod:`~chainrule.web.session` (training and frames),
:mod:`~chainrule.web.tools` (explain, trace, check, model files),
:mod:`~chainrule.web.protocol` (messages), :mod:`~chainrule.web.server` (the app).
Importing this package imports neither Starlette nor uvicorn; :func:`serve` does.
"""

from __future__ import annotations

__all__ = ["serve", "create_app"]


def create_app(*args, **kwargs):
    """The Starlette application (see :func:`chainrule.web.server.create_app`)."""
    from chainrule.web.server import create_app as make

    return make(*args, **kwargs)


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, log_level: str = "warning") -> None:
    """Run the playground until interrupted; opens ``http://host:port/`` in the browser when asked."""
    import threading
    import webbrowser

    import uvicorn

    from chainrule.web.protocol import MAX_MESSAGE_BYTES

    config = uvicorn.Config(create_app(), host=host, port=port, log_level=log_level, ws_max_size=MAX_MESSAGE_BYTES,
                            lifespan="off")
    server = uvicorn.Server(config)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"

    def announce() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            print(f"chainrule playground at {url} (Ctrl+C stops it)", flush=True)
            if open_browser:
                webbrowser.open(url)

    threading.Thread(target=announce, daemon=True).start()
    server.run()

"""End-to-end: the playground's page in a real headless Chromium, driven by Playwright.

The server runs in this process (uvicorn in a thread, on a free port), so each number the
page shows is compared with chainrule called directly on the same session's network.
The tests share one page and run in file order, as a learner would click. Screenshots go
to docs/img/ for the README and docs/playground.md.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

import chainrule as cr  # noqa: E402

CHROMIUM = os.environ.get("CHAINRULE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# The screenshots in docs/img are taken by these tests: CHAINRULE_SCREENSHOTS=docs/img python -m pytest tests/web
IMG = Path(os.environ.get("CHAINRULE_SCREENSHOTS") or Path(os.environ.get("TMPDIR", "/tmp")) / "chainrule-playground")

if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium package or set CHAINRULE_CHROMIUM)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    import uvicorn

    from chainrule.web.server import Sessions, create_app

    sessions = Sessions()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(sessions), host="127.0.0.1", port=port, log_level="warning",
                                       lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the playground server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", sessions
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server):
    url, _ = server
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        context.set_default_timeout(60000)  # generous: the 2-core CI machine may be busy with other tests
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(url)
        pg.wait_for_function("window.playground.frames > 0")
        yield pg
        browser.close()
        assert not errors, errors


def session_of(page, server):
    return server[1].by_id[page.evaluate("window.playground.session")]


def wait_idle(page):
    """Wait until the server has answered every message the page sent."""
    page.wait_for_function("Object.keys(window.playground.pending).length === 0")


def test_pick_a_data_set_and_train_until_the_test_loss_is_low(page, server):
    page.click("#datasets button[data-kind=gauss]")
    page.wait_for_function("window.playground.setup.data.kind === 'gauss'")
    wait_idle(page)
    page.select_option("#classes", "3")  # three classes: the page switches to softmax and cross-entropy
    page.wait_for_function("window.playground.setup.network.loss === 'cross_entropy'")
    wait_idle(page)
    page.click("#play")
    page.wait_for_function("Number(document.getElementById('test-loss').dataset.value) < 0.15", timeout=120000)
    page.click("#play")
    page.wait_for_function("!window.playground.playing")
    wait_idle(page)
    s = session_of(page, server)
    shown = float(page.get_attribute("#test-loss", "data-value"))
    assert shown == pytest.approx(s.loss(s.f_test, s.t_test), rel=1e-12)
    assert shown < 0.15 and s.accuracy(s.f_test, s.y_test) > 0.9
    assert int(page.text_content("#epoch")) == s.epoch > 0
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / "playground.png"), full_page=True)


def test_click_a_weight_shows_chainrule_explain_for_the_same_state(page, server):
    page.click("#heatmap", position={"x": 60, "y": 80})  # the training point nearest this spot
    wait_idle(page)
    s = session_of(page, server)
    page.locator("#links path.linkhit[data-name=w6]").click(force=True)
    page.wait_for_function("document.getElementById('explain-value').dataset.wrt === 'w6'")
    shown = float(page.get_attribute("#explain-value", "data-value"))
    net, x, target, loss = s.current()
    reference = cr.explain(net, "w6", x, target, loss)
    assert shown == reference.backprop
    assert shown == pytest.approx(reference.numeric, rel=1e-5, abs=1e-9)
    assert "delta form" in page.text_content("#explain-body")
    assert page.locator("#diagram canvas.node.hi").count() >= 2  # the paths are highlighted
    page.screenshot(path=str(IMG / "playground-explain.png"), full_page=True)


@pytest.mark.parametrize("selector", ["#links rect.bias >> nth=2", "#diagram canvas.node[data-neuron=j2]"])
def test_click_a_bias_or_a_neuron_shows_chainrule_explain(page, server, selector):
    element = page.locator(selector)
    name = element.get_attribute("data-name") or "net_" + element.get_attribute("data-neuron")
    element.click(force=True)
    page.wait_for_function(f"document.getElementById('explain-value').dataset.wrt === {name!r}")
    s = session_of(page, server)
    net, x, target, loss = s.current()
    reference = cr.explain(net, name, x, target, loss)
    assert float(page.get_attribute("#explain-value", "data-value")) == reference.backprop
    assert reference.backprop == pytest.approx(reference.numeric, rel=1e-5, abs=1e-9)


def test_the_derivation_follows_training(page, server):
    """After one more epoch, and after play then pause, the panel shows dE/dw of the new weights."""
    page.locator("#links path.linkhit[data-name=w6]").click(force=True)
    page.wait_for_function("document.getElementById('explain-value').dataset.wrt === 'w6'")
    wait_idle(page)
    s = session_of(page, server)
    before = float(page.get_attribute("#explain-value", "data-value"))
    for action in ("#step", "#play"):
        epoch = s.epoch
        page.click(action)
        if action == "#play":
            page.wait_for_function(f"window.playground.frame.epoch > {epoch + 2}")
            page.click("#play")
            page.wait_for_function("!window.playground.playing")
        page.wait_for_function(f"window.playground.frame.epoch > {epoch}")
        wait_idle(page)
        net, x, target, loss = s.current()
        shown = float(page.get_attribute("#explain-value", "data-value"))
        assert shown == cr.explain(net, "w6", x, target, loss).backprop
    assert shown != before


def test_step_through_mazur_reads_his_e_total(page):
    page.click(".tabs button[data-tab=trace]")
    page.select_option("#trace-example", "mazur")
    page.click("#trace-load")
    page.wait_for_function("window.playground.trace && window.playground.trace.example === 'mazur'")
    for _ in range(40):
        if page.get_attribute("#trace-current", "data-name") == "E_total":
            break
        page.click("#trace-next")
    assert page.get_attribute("#trace-current", "data-name") == "E_total"
    assert page.text_content("#trace-current").endswith("= 0.298371109")
    page.screenshot(path=str(IMG / "playground-trace.png"), full_page=True)


def test_check_a_formula_reads_the_verdict(page):
    page.click(".tabs button[data-tab=check]")
    page.select_option("#check-example", "mazur")
    page.fill("#check-wrt", "w5")
    page.fill("#check-formula", "(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1")
    page.click("#check-submit")
    page.wait_for_function("document.getElementById('check-verdict').dataset.correct === 'true'")
    page.fill("#check-formula", "(out_o1 - target_o1)*out_h1")
    page.click("#check-submit")
    page.wait_for_function("document.getElementById('check-verdict').dataset.correct === 'false'")
    assert "not correct" in page.text_content("#check-verdict")
    from chainrule.examples import mazur

    net, x, target = mazur()
    expected = cr.check(net, "w5", "(out_o1 - target_o1)*out_h1", x, target, "half_squared_error", bias="shared")
    assert page.get_attribute("#check-verdict", "data-mistake") == expected.mistake
    assert f"mistake ({expected.mistake})" in page.text_content("#check-detail")


def test_export_and_import_a_model(page, server, tmp_path):
    s = session_of(page, server)
    page.click(".tabs button[data-tab=files]")
    with page.expect_download() as download:
        page.click("#export-model")
    path = tmp_path / "exported.safetensors"
    download.value.save_as(path)
    saved = cr.load(path)
    trained = [lin.weight.data.copy() for lin, _ in s.model.layers()]
    for (lin, _), w in zip(saved.layers(), trained):
        np.testing.assert_array_equal(lin.weight.data, w)
    page.fill("#seed", "7")
    page.dispatch_event("#seed", "change")
    page.wait_for_function("window.playground.setup.seed === 7")
    assert not np.array_equal(s.model.layers()[0][0].weight.data, trained[0])
    page.set_input_files("#import-file", str(path))
    page.wait_for_function("document.getElementById('import-status').textContent === 'imported'")
    for (lin, _), w in zip(s.model.layers(), trained):
        np.testing.assert_array_equal(lin.weight.data, w)


def test_shareable_url_restores_the_set_up(page, server):
    page.click("#share")
    url = page.input_value("#share-url")
    assert "#setup=" in url
    setup = page.evaluate("window.playground.setup")
    other = page.context.new_page()
    other.goto(url)
    other.wait_for_function("window.playground.setup && window.playground.setup.data.kind === 'gauss'"
                            " && Object.keys(window.playground.pending).length === 0 && window.playground.frames > 1")
    assert other.evaluate("window.playground.session") != page.evaluate("window.playground.session")
    assert other.evaluate("window.playground.setup") == setup
    other.close()


def test_upload_a_table_and_choose_its_columns(page, server, tmp_path):
    rng = np.random.default_rng(5)
    values = rng.normal(size=(120, 3))
    sector = (np.arctan2(values[:, 1], values[:, 2]) + np.pi) // (2 * np.pi / 3)  # three wedges of the (c, b) plane
    kind = np.array([2, 4, 6])[np.minimum(sector, 2).astype(int)]
    flag = (values[:, 0] > values[:, 2]).astype(int)
    path = tmp_path / "table.csv"
    path.write_text("a,b,c,kind,flag\n" + "\n".join(
        f"{a:.17g},{b:.17g},{c:.17g},{k},{f}" for (a, b, c), k, f in zip(values, kind, flag)))
    page.click("#upload-box summary")
    page.set_input_files("#csv-file", str(path))
    page.wait_for_function("window.playground.setup.data.kind === 'csv'")
    s = session_of(page, server)
    # The default columns: the first two plotted, the last the labels; the selects name every column.
    assert page.eval_on_selector_all("#csv-label option", "os => os.map(o => o.textContent)") == \
        ["a", "b", "c", "kind", "flag"]
    assert [page.input_value(f"#csv-{k}") for k in ("x1", "x2", "label")] == ["0", "1", "4"]
    np.testing.assert_array_equal(s.points.y, flag)
    # Plot c against a, labelled by kind (three classes: the page shows a softmax output).
    page.select_option("#csv-x1", label="c")
    page.wait_for_function("window.playground.data.table.chosen[0] === 2")
    page.select_option("#csv-label", label="kind")
    page.wait_for_function("window.playground.data.classes === 3")
    wait_idle(page)
    assert s.points.columns == ("c", "b") and s.setup["network"]["output_activation"] == "softmax"
    picked = values[:, [2, 1]]
    np.testing.assert_allclose(s.points.x, (picked - picked.mean(axis=0)) / picked.std(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(s.points.y, np.searchsorted([2, 4, 6], kind))
    assert "plotting c, b by kind" in page.text_content("#csv-status")
    for _ in range(8):
        page.click("#step")
    page.wait_for_function("window.playground.frame && window.playground.frame.epoch === 8")
    wait_idle(page)
    page.screenshot(path=str(IMG / "playground-csv.png"), full_page=True)


def test_a_dropped_connection_reconnects_to_the_same_session(page, server):
    wait_idle(page)
    session = page.evaluate("window.playground.session")
    s = session_of(page, server)
    epoch, kind = s.epoch, s.setup["data"]["kind"]
    page.evaluate("window.playground.oldSocket = window.playground.ws; window.playground.ws.close()")
    page.wait_for_function("window.playground.ws !== window.playground.oldSocket"
                           " && window.playground.ws.readyState === WebSocket.OPEN && window.playground.frame")
    assert page.evaluate("window.playground.session") == session
    assert page.evaluate("window.playground.setup.data.kind") == kind
    assert int(page.text_content("#epoch")) == epoch
    page.click("#step")
    page.wait_for_function(f"window.playground.frame.epoch === {epoch + 1}")
    assert session_of(page, server) is s and s.epoch == epoch + 1

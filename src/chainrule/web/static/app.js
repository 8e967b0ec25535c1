// chainrule playground page: draws what the server sends and sends what the learner does.
// No derivative is computed here: every number shown comes from chainrule in the server.
"use strict";

const FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin(x1)", "sin(x2)"];
const ACTIVATIONS = ["tanh", "sigmoid", "relu", "leaky_relu", "elu", "softplus", "gelu", "identity", "softmax"];
const CLASS_RGB = [[245, 147, 34], [8, 119, 189], [44, 160, 44], [148, 103, 189], [214, 39, 40]];
const $ = (id) => document.getElementById(id);

const app = {
  ws: null, session: sessionStorage.getItem("chainrule-session"), setup: null, data: null, names: null,
  history: [], frame: null, playing: false, selected: null, hashApplied: false, frames: 0, retry: 300,
  trace: null, traceAt: -1, pending: {}, nextId: 1,
};
window.playground = app; // for tests and the benchmark: frames drawn, last messages

// ------------------------------------------------------------------ connection
function connect() {
  const query = app.session ? `?session=${encodeURIComponent(app.session)}` : "";
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${query}`);
  app.ws = ws;
  ws.onopen = () => { status("connected"); app.retry = 300; };
  ws.onmessage = (event) => receive(JSON.parse(event.data));
  ws.onclose = () => {
    status("disconnected: reconnecting");
    setTimeout(connect, app.retry);
    app.retry = Math.min(app.retry * 2, 5000);
  };
}

function send(message) {
  if (!app.ws || app.ws.readyState !== WebSocket.OPEN) { toast("not connected yet"); return; }
  message.id = app.nextId++;
  app.pending[message.id] = message.type;
  app.ws.send(JSON.stringify(message));
}

function status(text) { $("status").textContent = text; }

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 6000);
}

const handlers = {
  state(m) {
    app.session = m.session;
    sessionStorage.setItem("chainrule-session", m.session);
    app.setup = m.setup; app.data = m.data; app.names = m.network; app.history = m.history.slice();
    app.playing = m.playing; app.sample = m.sample;
    app.frame = null; // the old frame belongs to the old network; the next one follows at once
    app.highlighted = null;
    if (app.selected && !knows(app.selected)) { // the network changed shape: that quantity is gone
      app.selected = null;
      $("explain-head").textContent = "Click a weight, a bias or a neuron in the network.";
      $("explain-value").textContent = ""; $("explain-body").innerHTML = "";
      delete $("explain-value").dataset.wrt;
    }
    showSetup(); showTable(); buildDiagram(); showSample(); drawChart(); showPlaying();
    if (!app.hashApplied) {
      app.hashApplied = true;
      const shared = readHash();
      if (shared) send({type: "setup", setup: shared});
    }
  },
  frame(m) {
    app.frame = m; app.frames++;
    const last = app.history[app.history.length - 1];
    if (!last || last[0] !== m.epoch) app.history.push([m.epoch, m.train_loss, m.test_loss]);
    if (app.history.length > 600) app.history.splice(1, 2);
    $("epoch").textContent = String(m.epoch).padStart(6, "0");
    showLoss("train-loss", m.train_loss); showLoss("test-loss", m.test_loss);
    drawHeatmap(m); drawNeurons(m); drawLinks(m); drawChart();
    // The derivation follows the weights: after every step or change, and every 15th frame while playing.
    if (app.selected && (!app.playing || app.frames % 15 === 0) && activeTab() === "explain") {
      send({type: "explain", wrt: app.selected});
    }
  },
  playing(m) { app.playing = m.playing; showPlaying(); },
  sample(m) { app.sample = m.sample; showSample(); drawHeatmap(app.frame); if (app.selected) send({type: "explain", wrt: app.selected}); },
  explain: showExplain,
  trace(m) { app.trace = m; app.traceAt = 0; drawTraceDiagram(); showTrace(); },
  check: showCheck,
  export(m) {
    if (m.format === "model") {
      const bytes = Uint8Array.from(atob(m.data), (c) => c.charCodeAt(0));
      download(new Blob([bytes], {type: "application/octet-stream"}), m.filename);
    } else {
      download(new Blob([JSON.stringify(m.weights, null, 1)], {type: "application/json"}), m.filename);
    }
  },
  error(m) {
    toast(m.message);
    if (m.request === "import") $("import-status").textContent = "refused: " + m.message;
    if (m.request === "check") { $("check-verdict").textContent = "error"; $("check-detail").textContent = m.message; }
    if (m.request === "setup" || m.request === "upload" || m.request === "columns") showSetup();
  },
  pong() {},
};

function receive(m) {
  const request = m.id !== undefined ? app.pending[m.id] : undefined;
  if (m.id !== undefined) delete app.pending[m.id];
  if (request === "import" && m.type === "state") $("import-status").textContent = "imported";
  (handlers[m.type] || (() => {}))(m);
}

function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// ------------------------------------------------------------------ set-up controls
function showSetup() {
  const s = app.setup;
  document.querySelectorAll("#datasets button").forEach((b) => b.classList.toggle("active", b.dataset.kind === s.data.kind));
  $("classes").value = s.data.classes; $("noise").value = s.data.noise; $("noise-out").textContent = s.data.noise;
  $("test-fraction").value = s.data.test_fraction; $("test-out").textContent = s.data.test_fraction;
  $("samples").value = s.data.samples; $("data-seed").value = s.data.seed; $("seed").value = s.seed;
  // An uploaded table brings its own points and classes: the generator's controls do not apply.
  for (const id of ["classes", "noise", "samples", "data-seed"]) $(id).disabled = s.data.kind === "csv";
  $("optimizer").value = s.optimizer.name; $("batch").value = s.optimizer.batch_size;
  const lr = $("lr");
  if (![...lr.options].some((o) => Number(o.value) === s.optimizer.lr)) lr.add(new Option(String(s.optimizer.lr)));
  lr.value = [...lr.options].find((o) => Number(o.value) === s.optimizer.lr).value;
  $("l1").value = s.network.l1; $("l2").value = s.network.l2; $("dropout").value = s.network.dropout;
  $("output-activation").value = s.network.output_activation; $("loss").value = s.network.loss;
  const box = $("features");
  box.innerHTML = "";
  for (const f of FEATURES) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox"; input.checked = s.features.includes(f); input.dataset.feature = f;
    input.onchange = () => {
      const chosen = FEATURES.filter((g) => box.querySelector(`[data-feature="${g}"]`).checked);
      change({features: chosen});
    };
    label.append(input, " " + f);
    box.append(label);
  }
  const editor = $("layer-editor");
  editor.innerHTML = "";
  s.network.hidden.forEach((layer, k) => {
    const div = document.createElement("div");
    div.className = "layer";
    const minus = button("\u2212", () => setUnits(k, layer.units - 1));
    const plus = button("+", () => setUnits(k, layer.units + 1));
    const select = activationSelect(layer.activation, (a) => {
      const hidden = structuredClone(app.setup.network.hidden); hidden[k].activation = a; change({network: {hidden}});
    });
    div.append(`layer ${k + 1}: `, minus, ` ${layer.units} `, plus, " ", select);
    editor.append(div);
  });
  $("layer-count").textContent = `${s.network.hidden.length} hidden layer${s.network.hidden.length === 1 ? "" : "s"}`;
}

function button(text, onclick) { const b = document.createElement("button"); b.textContent = text; b.onclick = onclick; return b; }

function activationSelect(value, onchange) {
  const select = document.createElement("select");
  for (const a of ACTIVATIONS) select.add(new Option(a));
  select.value = value;
  select.onchange = () => onchange(select.value);
  return select;
}

function setUnits(k, units) {
  if (units < 1 || units > 16) return;
  const hidden = structuredClone(app.setup.network.hidden); hidden[k].units = units; change({network: {hidden}});
}

function change(part) { send({type: "setup", setup: part}); }

function wireControls() {
  document.querySelectorAll("#datasets button").forEach((b) => b.onclick = () => change({data: {kind: b.dataset.kind}}));
  const num = (id, fn) => { $(id).onchange = () => fn(Number($(id).value)); };
  num("classes", (v) => {
    const net = v > 2 && app.setup.network.loss === "binary_cross_entropy"
      ? {output_activation: "softmax", loss: "cross_entropy"} : undefined;
    change(net ? {data: {classes: v}, network: net} : {data: {classes: v}});
  });
  $("noise").oninput = () => { $("noise-out").textContent = $("noise").value; };
  num("noise", (v) => change({data: {noise: v}}));
  $("test-fraction").oninput = () => { $("test-out").textContent = $("test-fraction").value; };
  num("test-fraction", (v) => change({data: {test_fraction: v}}));
  num("samples", (v) => change({data: {samples: v}}));
  num("data-seed", (v) => change({data: {seed: v}}));
  num("seed", (v) => send({type: "reset", seed: v}));
  $("optimizer").onchange = () => change({optimizer: {name: $("optimizer").value}});
  num("lr", (v) => change({optimizer: {lr: v}}));
  num("batch", (v) => change({optimizer: {batch_size: v}}));
  num("l1", (v) => change({network: {l1: v}}));
  num("l2", (v) => change({network: {l2: v}}));
  num("dropout", (v) => change({network: {dropout: v}}));
  const out = $("output-activation");
  for (const a of ACTIVATIONS) out.add(new Option(a));
  out.onchange = () => change({network: {output_activation: out.value}});
  $("loss").onchange = () => change({network: {loss: $("loss").value}});
  $("add-layer").onclick = () => {
    const hidden = structuredClone(app.setup.network.hidden);
    if (hidden.length < 6) hidden.push({units: 2, activation: hidden.length ? hidden[hidden.length - 1].activation : "tanh"});
    change({network: {hidden}});
  };
  $("remove-layer").onclick = () => change({network: {hidden: app.setup.network.hidden.slice(0, -1)}});
  $("play").onclick = () => send({type: app.playing ? "pause" : "play"});
  $("step").onclick = () => send({type: "step"});
  $("reset").onclick = () => send({type: "reset"});
  $("show-test").onchange = () => drawHeatmap(app.frame);
  $("heatmap").onclick = pickSample;
  $("csv-file").onchange = uploadCsv;
  for (const k of ["x1", "x2", "label"]) $(`csv-${k}`).onchange = chooseColumns;
  document.querySelectorAll(".tabs button").forEach((b) => b.onclick = () => showTab(b.dataset.tab));
  $("trace-load").onclick = () => send({type: "trace", example: $("trace-example").value});
  $("trace-next").onclick = () => stepTrace(1);
  $("trace-prev").onclick = () => stepTrace(-1);
  $("trace-all").onclick = () => { if (app.trace) { app.traceAt = app.trace.lines.length - 1; showTrace(); } };
  $("check-submit").onclick = () => send({type: "check", wrt: $("check-wrt").value, formula: $("check-formula").value,
    example: $("check-example").value});
  $("export-model").onclick = () => send({type: "export", format: "model"});
  $("export-json").onclick = () => send({type: "export", format: "json"});
  $("import-file").onchange = importModel;
  $("share").onclick = share;
}

function showPlaying() { $("play").innerHTML = app.playing ? "&#10074;&#10074;" : "&#9654;"; }
function showLoss(id, v) { const o = $(id); o.textContent = v === null ? "diverged" : v.toFixed(3); o.dataset.value = v; }
function activeTab() { return document.querySelector(".tabs button.active").dataset.tab; }
function showTab(name) {
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.id === `tab-${name}`));
}

// A new table is sent with the default columns (the first two plotted, the last the labels); the
// server keeps the whole table, and the selects below then offer its columns by name.
async function uploadCsv() {
  const file = $("csv-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  $("csv-status").textContent = "uploading\u2026";
  const reply = await fetch(`/upload?session=${encodeURIComponent(app.session)}`, {method: "POST", body: form});
  const body = await reply.json();
  if (body.type === "error") {
    toast(body.message);
    $("csv-status").textContent = (body.table ? "choose the columns: " : "refused: ") + body.message;
  }
}

function chooseColumns() {
  const [x1, x2, label] = ["x1", "x2", "label"].map((k) => $(`csv-${k}`).value);
  send({type: "columns", x1, x2, label});
}

function showTable() {
  const table = app.data && app.data.table;
  const box = $("csv-columns");
  box.classList.toggle("empty", !table);
  ["x1", "x2", "label"].forEach((k, n) => {
    const select = $(`csv-${k}`);
    select.innerHTML = "";
    select.disabled = !table;
    if (!table) return;
    table.columns.forEach((name, c) => select.add(new Option(name, String(c))));
    const fallback = (Number(select.dataset.default) + table.columns.length) % table.columns.length;
    select.value = String(table.chosen ? table.chosen[n] : fallback);
  });
  if (table && table.chosen) {
    $("csv-status").textContent = `${table.rows} rows; plotting ${table.columns[table.chosen[0]]}, ` +
      `${table.columns[table.chosen[1]]} by ${table.columns[table.chosen[2]]}` +
      (app.setup.data.kind === "csv" ? "" : " (choose csv to show it)");
  } else if (table) {
    $("csv-status").textContent = `${table.rows} rows: choose the columns to plot and the label column`;
  }
}

function importModel() {
  const file = $("import-file").files[0];
  if (!file) return;
  $("import-status").textContent = "reading\u2026";
  const reader = new FileReader();
  reader.onload = () => {
    const bytes = new Uint8Array(reader.result);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    send({type: "import", data: btoa(text)});
  };
  reader.readAsArrayBuffer(file);
}

function share() {
  const encoded = btoa(unescape(encodeURIComponent(JSON.stringify(app.setup))));
  history.replaceState(null, "", `#setup=${encoded}`);
  $("share-url").value = location.href;
  $("share-url").select();
}

function readHash() {
  const match = location.hash.match(/setup=([A-Za-z0-9+/=_-]+)/);
  if (!match) return null;
  try { return JSON.parse(decodeURIComponent(escape(atob(match[1])))); } catch (e) { toast("the URL's set-up cannot be read"); return null; }
}

// ------------------------------------------------------------------ heatmaps
function decode(b64) { return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)); }

function diverging(v) { // 0 -> orange, 0.5 -> white, 1 -> blue (TensorFlow Playground's colours)
  const [a, b] = v < 128 ? [CLASS_RGB[0], [232, 234, 235]] : [[232, 234, 235], CLASS_RGB[1]];
  const t = v < 128 ? v / 128 : (v - 128) / 127;
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function paint(canvas, size, values, classes) {
  const off = paint.off || (paint.off = document.createElement("canvas"));
  off.width = size; off.height = size;
  const ctx = off.getContext("2d");
  const image = ctx.createImageData(size, size);
  for (let k = 0; k < size * size; k++) {
    let rgb;
    if (classes) {
      const c = CLASS_RGB[classes[k]], w = 0.35 + 0.5 * values[k] / 255;
      rgb = [255 + (c[0] - 255) * w, 255 + (c[1] - 255) * w, 255 + (c[2] - 255) * w];
    } else rgb = diverging(values[k]);
    image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * k);
  }
  ctx.putImageData(image, 0, 0);
  const out = canvas.getContext("2d");
  out.imageSmoothingEnabled = size > 30;
  out.drawImage(off, 0, 0, canvas.width, canvas.height);
}

function drawHeatmap(m) {
  if (!m || !app.data) return;
  const canvas = $("heatmap");
  paint(canvas, m.output.size, decode(m.output.value), m.output.cls ? decode(m.output.cls) : null);
  const ctx = canvas.getContext("2d"), R = app.data.radius, W = canvas.width;
  const px = (x) => (x + R) / (2 * R) * W, py = (y) => (R - y) / (2 * R) * W;
  const dots = (set, stroke) => set.x.forEach((p, k) => {
    const c = CLASS_RGB[set.y[k]];
    ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), 3, 0, 2 * Math.PI);
    ctx.fillStyle = `rgb(${c})`; ctx.fill(); ctx.strokeStyle = stroke; ctx.lineWidth = 1; ctx.stroke();
  });
  dots(app.data.train, "#fff");
  if ($("show-test").checked) dots(app.data.test, "#000");
  if (app.sample) {
    ctx.beginPath(); ctx.arc(px(app.sample.point[0]), py(app.sample.point[1]), 7, 0, 2 * Math.PI);
    ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2.5; ctx.stroke();
  }
  ctx.fillStyle = "#555"; ctx.font = "10px sans-serif";
  ctx.fillText(`${app.data.columns[0]} \u2192  (\u00b1${R})`, 4, W - 4);
}

function pickSample(event) {
  const canvas = $("heatmap"), rect = canvas.getBoundingClientRect(), R = app.data.radius;
  const x = ((event.clientX - rect.left) / rect.width) * 2 * R - R, y = R - ((event.clientY - rect.top) / rect.height) * 2 * R;
  let best = 0, bestD = Infinity;
  app.data.train.x.forEach((p, k) => { const d = (p[0] - x) ** 2 + (p[1] - y) ** 2; if (d < bestD) { bestD = d; best = k; } });
  send({type: "sample", index: best});
}

function showSample() {
  const s = app.sample;
  if (!s) return;
  const inputs = s.features.map((f, i) => `${f}=${s.inputs[i].toFixed(3)}`).join(", ");
  $("sample-info").textContent = `current sample #${s.index}: ${inputs}; class ${s.label}`;
}

function drawChart() {
  const canvas = $("loss-chart"), ctx = canvas.getContext("2d"), h = app.history;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (h.length < 2) return;
  const values = h.flatMap((r) => [r[1], r[2]]).filter((v) => v !== null && isFinite(v));
  const top = Math.max(...values) || 1, last = h[h.length - 1][0] || 1;
  for (const [col, colour] of [[1, "#999"], [2, "#000"]]) {
    ctx.beginPath();
    h.forEach((r, k) => {
      const x = (r[0] / last) * (canvas.width - 2) + 1, y = canvas.height - 2 - (r[col] / top) * (canvas.height - 6);
      if (k) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.stroke();
  }
  ctx.font = "10px system-ui, sans-serif"; ctx.textAlign = "right";
  ctx.fillStyle = "#000"; ctx.fillText("test", canvas.width - 6, 12);
  ctx.fillStyle = "#999"; ctx.fillText("training", canvas.width - 6, 24);
}

// ------------------------------------------------------------------ network diagram
let NODE = 34; // a neuron's heatmap in pixels: smaller when a layer has many neurons
function layout(sizes, width, height) {
  NODE = Math.max(12, Math.min(34, Math.floor((height - 10) / Math.max(...sizes)) - 6));
  const x0 = 70, dx = (width - x0 - NODE - 30) / Math.max(sizes.length - 1, 1);
  return sizes.map((n, l) => Array.from({length: n}, (_, j) => {
    const dy = Math.min(NODE + 12, (height - 10) / Math.max(n, 1));
    return {x: x0 + l * dx, y: (height - n * dy) / 2 + j * dy + (dy - NODE) / 2};
  }));
}

function buildDiagram() {
  const box = $("diagram"), names = app.names;
  box.querySelectorAll("canvas, .inlabel, .nlabel").forEach((e) => e.remove());
  const svg = $("links");
  svg.innerHTML = "";
  const pos = layout(names.sizes, box.clientWidth || 600, box.clientHeight || 320);
  app.pos = pos;
  app.setup.features.forEach((f, i) => {
    const label = document.createElement("div");
    label.className = "inlabel"; label.textContent = `${f} (${names.neurons[0][i]})`;
    label.style.left = `${pos[0][i].x - 60}px`; label.style.top = `${pos[0][i].y + NODE / 2 - 7}px`;
    box.append(label);
  });
  const ns = "http://www.w3.org/2000/svg";
  app.links = [];
  for (let l = 1; l < names.sizes.length; l++) {
    for (let i = 0; i < names.sizes[l - 1]; i++) {
      for (let j = 0; j < names.sizes[l]; j++) {
        const a = pos[l - 1][i], b = pos[l][j], name = names.weights[l - 1][i][j];
        const d = `M${a.x + NODE},${a.y + NODE / 2} C${(a.x + b.x + NODE) / 2},${a.y + NODE / 2} ${(a.x + b.x + NODE) / 2},${b.y + NODE / 2} ${b.x},${b.y + NODE / 2}`;
        const path = document.createElementNS(ns, "path");
        path.setAttribute("d", d); path.setAttribute("class", "link"); path.dataset.name = name;
        path.dataset.from = names.neurons[l - 1][i]; path.dataset.to = names.neurons[l][j];
        const hit = document.createElementNS(ns, "path");
        hit.setAttribute("d", d); hit.setAttribute("class", "linkhit"); hit.dataset.name = name;
        const title = document.createElementNS(ns, "title"); title.textContent = name; hit.append(title);
        hit.onclick = () => select(name);
        svg.append(path, hit);
        app.links.push({path, l: l - 1, i, j});
      }
      }
    for (let j = 0; j < names.sizes[l]; j++) {
      const b = pos[l][j], name = names.biases[l - 1][j];
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", b.x - 8); rect.setAttribute("y", b.y + NODE - 6);
      rect.setAttribute("width", 7); rect.setAttribute("height", 7); rect.setAttribute("class", "bias");
      rect.dataset.name = name;
      const title = document.createElementNS(ns, "title"); title.textContent = name; rect.append(title);
      rect.onclick = () => select(name);
      svg.append(rect);
    }
  }
  names.sizes.forEach((n, l) => {
    for (let j = 0; j < n; j++) {
      const canvas = document.createElement("canvas");
      canvas.className = "node"; canvas.width = NODE; canvas.height = NODE;
      canvas.style.left = `${pos[l][j].x}px`; canvas.style.top = `${pos[l][j].y}px`;
      canvas.dataset.neuron = names.neurons[l][j]; canvas.dataset.layer = l; canvas.dataset.index = j;
      canvas.title = names.neurons[l][j];
      if (l > 0) canvas.onclick = () => select(`net_${names.neurons[l][j]}`);
      box.append(canvas);
      const label = document.createElement("div");
      label.className = "nlabel"; label.textContent = names.neurons[l][j];
      label.style.left = `${pos[l][j].x + NODE + 2}px`; label.style.top = `${pos[l][j].y - 2}px`;
      box.append(label);
    }
  });
  if (app.frame) { drawNeurons(app.frame); drawLinks(app.frame); }
  if (app.highlighted) highlight(...app.highlighted);
}

function drawNeurons(m) {
  const size = m.neurons.size;
  document.querySelectorAll("#diagram canvas.node").forEach((c) => {
    const l = Number(c.dataset.layer), j = Number(c.dataset.index), grids = m.neurons.grids[l];
    if (grids && grids[j]) paint(c, size, decode(grids[j]), null);
  });
}

function drawLinks(m) {
  if (!app.links) return;
  for (const {path, l, i, j} of app.links) {
    const w = m.weights[l] && m.weights[l].w[i] ? m.weights[l].w[i][j] : 0;
    path.style.stroke = w >= 0 ? "#0877bd" : "#f59322";
    path.style.strokeWidth = Math.min(0.5 + Math.abs(w) * 2, 7);
    path.style.strokeOpacity = 0.35 + Math.min(Math.abs(w), 1) * 0.5;
  }
  document.querySelectorAll("#links rect.bias").forEach((r) => {
    const [l, j] = locate(r.dataset.name);
    const b = m.weights[l] ? m.weights[l].b[j] : 0;
    r.style.fill = b >= 0 ? "#0877bd" : "#f59322";
  });
}

function locate(biasName) {
  for (let l = 0; l < app.names.biases.length; l++) {
    const j = app.names.biases[l].indexOf(biasName);
    if (j >= 0) return [l, j];
  }
  return [0, 0];
}

function knows(name) {
  const n = app.names;
  return n.weights.flat(2).includes(name) || n.biases.flat().includes(name) ||
    n.neurons.slice(1).flat().some((neuron) => `net_${neuron}` === name);
}

function select(name) {
  app.selected = name;
  $("check-wrt").value = name;
  showTab("explain");
  send({type: "explain", wrt: name});
}

// ------------------------------------------------------------------ explain panel
function highlight(neurons, weight) {
  app.highlighted = [neurons, weight]; // kept, so a redrawn diagram shows it again
  const on = new Set(neurons);
  document.querySelectorAll("#diagram canvas.node").forEach((c) => c.classList.toggle("hi", on.has(c.dataset.neuron)));
  document.querySelectorAll("#links path.link").forEach((p) => {
    p.classList.toggle("hi", p.dataset.name === weight || (on.has(p.dataset.from) && on.has(p.dataset.to)));
  });
  document.querySelectorAll("#links rect.bias").forEach((r) => r.classList.toggle("hi", r.dataset.name === weight));
}

function showExplain(m) {
  if (m.example === "current") {
    const start = [];
    if (m.where.kind === "weight" || m.where.kind === "bias") {
      const l = m.where.layer;
      start.push(app.names.neurons[l][m.where.index[m.where.kind === "weight" ? 1 : 0]]);
      if (m.where.kind === "weight") start.push(app.names.neurons[l - 1][m.where.index[0]]);
    } else start.push(app.names.neurons[m.where.layer][m.where.index[0]]);
    highlight(m.paths.flatMap((p) => p.neurons).concat(start), m.wrt);
  }
  const note = m.note.replace(/\(([^)]{160,})\)/, (_, list) => `(all ${list.split(", ").length} of them)`);
  $("explain-head").textContent = `${m.target} at sample #${m.sample.index ?? ""} (inputs ${m.sample.inputs.map((v) => v.toFixed(4)).join(", ")}): ${note}`;
  const v = $("explain-value");
  v.textContent = `${m.target} = ${fmt(m.value)}   (finite difference ${fmt(m.finite_difference)}; ${m.agree ? "agree" : "DISAGREE"})`;
  v.dataset.value = m.value; v.dataset.wrt = m.wrt;
  const body = $("explain-body");
  body.innerHTML = "";
  // The delta form and the check first; the path sum and its factors (long in a deep
  // network: one product per path) folded away unless there are few paths.
  const order = [2, 3, 0, 1];
  order.forEach((k) => {
    const s = m.sections[k];
    if (!s) return;
    const fold = k < 2;
    const div = document.createElement(fold ? "details" : "div"); div.className = "section";
    if (fold && m.paths.length <= 4) div.open = true;
    const h = document.createElement(fold ? "summary" : "h3"); h.textContent = s.title;
    const pre = document.createElement("pre"); pre.textContent = s.lines.join("\n");
    div.append(h, pre);
    if (k === 0 && m.paths.length) {
      const paths = document.createElement("pre");
      paths.textContent = m.paths.map((p, n) => `  path ${n + 1}: ${p.text.replace(/^path \d+: /, "")}`).join("\n");
      div.append(paths);
    }
    body.append(div);
  });
}

function fmt(v) { return v === null || v === undefined ? "-" : Number(v).toPrecision(9); }

// ------------------------------------------------------------------ step-through (trace)
function drawTraceDiagram() {
  const svg = $("trace-diagram"), net = app.trace.network, ns = "http://www.w3.org/2000/svg";
  svg.innerHTML = "";
  const W = 320, H = 220, dx = (W - 60) / (net.sizes.length - 1);
  const at = (l, j) => ({x: 30 + l * dx, y: H / 2 + (j - (net.sizes[l] - 1) / 2) * Math.min(50, (H - 30) / net.sizes[l])});
  const make = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    svg.append(e);
    return e;
  };
  for (let l = 1; l < net.sizes.length; l++) {
    for (let i = 0; i < net.sizes[l - 1]; i++) {
      for (let j = 0; j < net.sizes[l]; j++) {
        const a = at(l - 1, i), b = at(l, j);
        make("line", {x1: a.x, y1: a.y, x2: b.x, y2: b.y, "data-key": `w${l},${i},${j}`});
        if (net.sizes.reduce((s, n) => s + n, 0) <= 12) {
          make("text", {x: a.x + (b.x - a.x) * 0.3, y: a.y + (b.y - a.y) * 0.3 - 5}, net.weights[l - 1][i][j]);
        }
      }
    }
  }
  net.sizes.forEach((n, l) => {
    for (let j = 0; j < n; j++) {
      const p = at(l, j);
      make("circle", {cx: p.x, cy: p.y, r: 13, "data-key": `n${l},${j}`});
      make("text", {x: p.x, y: p.y}, net.neurons[l][j]);
    }
  });
}

function stepTrace(by) {
  if (!app.trace) { send({type: "trace", example: $("trace-example").value}); return; }
  app.traceAt = Math.max(0, Math.min(app.trace.lines.length - 1, app.traceAt + by));
  showTrace();
}

function showTrace() {
  const t = app.trace, box = $("trace-lines");
  box.innerHTML = "";
  let section = null, now = null;
  t.lines.slice(0, app.traceAt + 1).forEach((line, k) => {
    if (line.section !== section) {
      section = line.section;
      const h = document.createElement("h3"); h.textContent = section; box.append(h);
    }
    const pre = document.createElement("pre");
    pre.textContent = line.text;
    if (k === app.traceAt) { pre.className = "now"; now = pre; }
    box.append(pre);
  });
  if (now) now.scrollIntoView({block: "nearest"});
  const line = t.lines[app.traceAt];
  const cur = $("trace-current");
  cur.textContent = line.text;
  cur.dataset.name = line.name; cur.dataset.value = line.value;
  $("trace-pos").textContent = `line ${app.traceAt + 1} of ${t.lines.length}: ${line.section}`;
  const w = line.where, keys = new Set();
  if (["net", "out", "delta", "dE_dout", "error_term"].includes(w.kind)) keys.add(`n${w.layer},${w.index[0]}`);
  if (["grad", "new", "weight"].includes(w.kind) && w.index.length === 2) {
    keys.add(`w${w.layer},${w.index[0]},${w.index[1]}`); keys.add(`n${w.layer},${w.index[1]}`);
  }
  $("trace-diagram").querySelectorAll("[data-key]").forEach((e) => e.classList.toggle("hi", keys.has(e.dataset.key)));
}

// ------------------------------------------------------------------ check
function showCheck(m) {
  const v = $("check-verdict");
  v.textContent = m.text.split("\n")[0];
  v.className = `value ${m.correct ? "good" : "bad"}`;
  v.dataset.correct = m.correct;
  v.dataset.mistake = m.mistake || "";
  $("check-detail").textContent = m.text.split("\n").slice(1).join("\n")
    + `\n\nnames you may use: ${m.available.join(", ")}`;
}

wireControls();
connect();
let diagramWidth = 0;
window.addEventListener("resize", () => {
  const width = $("diagram").clientWidth;
  if (app.names && width !== diagramWidth) { diagramWidth = width; buildDiagram(); }
});

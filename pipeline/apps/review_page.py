"""The page of `vpipe review` (pipeline/apps/review.py): one file, no build step.

The output's frame is an <img>; an SVG drawn over it at the frame's own pixel size shows the
covers (yellow; a click marks one removed, red), the regions (blue), the reviewer's boxes
(green, drawn by click-drag) and the detections' tracks. Keys: right/left next and previous frame,
n next flagged frame, z undo, e extend (the last box drawn, copied onto this frame with its track:
`vpipe apply` interpolates between the two).
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vpipe review</title>
<style>
body{margin:0;font:14px sans-serif;background:#111;color:#eee;display:flex;height:100vh}
main{flex:1;padding:8px;overflow:auto}aside{width:300px;background:#1b1b1b;padding:8px;overflow:auto}
#stage{position:relative;display:inline-block;user-select:none}
#frame{display:block;max-width:calc(100vw - 340px);max-height:calc(100vh - 90px)}
svg{position:absolute;left:0;top:0;width:100%;height:100%;cursor:crosshair}
rect,polygon{fill:transparent;stroke-width:3;vector-effect:non-scaling-stroke}
.cover{stroke:#fc3}.removed{stroke:#f44;stroke-dasharray:6 4}.manual{stroke:#3f6}.region{stroke:#39f}
.track{stroke:#888;stroke-dasharray:2 4;pointer-events:none}
button{margin:0 4px 4px 0}#flags li{cursor:pointer;margin:4px 0}#flags li.here{color:#fc3}
#error{color:#f66}#reasons{color:#f96}
</style></head><body>
<main>
  <div><button id="prev">&larr; prev</button><button id="next">next &rarr;</button>
  <button id="nextflag">next flagged (n)</button><button id="undo">undo (z)</button>
  <button id="extend">extend (e)</button>
  <select id="cls"><option>face</option><option>licence_plate</option><option>region</option></select>
  <button id="save">save</button><button id="render">render</button>
  <span id="where"></span> <span id="status"></span> <span id="error"></span></div>
  <div id="reasons"></div>
  <div id="stage"><img id="frame" alt="output frame"><svg id="overlay"></svg></div>
</main>
<aside><b>Flagged by verify</b><ul id="flags"></ul></aside>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const api = (path, options) => fetch(new URL(path, location.origin), {cache: "no-store", ...options}).then(async (r) => {
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `${path}: HTTP ${r.status}`);
  return body;
});
const NS = "http://www.w3.org/2000/svg";
let info = null, here = 0, current = null, edits = {}, history = [], lastDrawn = null, drag = null, nextTrack = 100000;

function editOf(p) { return edits[p] || (edits[p] = {manual: [], remove: []}); }
function same(a, b) { return a.every((v, i) => Math.abs(v - b[i]) < 0.5); }
function shape(kind, cls, attrs) {
  const el = document.createElementNS(NS, kind);
  el.setAttribute("class", cls);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  $("overlay").appendChild(el);
  return el;
}
function rect(box, cls) {
  return shape("rect", cls, {x: box[0], y: box[1], width: box[2] - box[0], height: box[3] - box[1]});
}
function draw() {
  const svg = $("overlay");
  svg.innerHTML = "";
  svg.setAttribute("viewBox", `0 0 ${info.width} ${info.height}`);
  if (!current) return;
  const edit = editOf(here);
  for (const d of current.detections) if (d.track >= 0) rect(d.box, "track");
  for (const p of current.polygons) shape("polygon", "region", {points: p.map((q) => q.join(",")).join(" ")});
  for (const c of current.covers) {
    const gone = edit.remove.some((r) => same(r, c.box));
    const el = rect(c.box, gone ? "removed" : "cover");
    el.addEventListener("mousedown", (ev) => { ev.stopPropagation(); toggleRemove(c.box); });
  }
  for (const m of edit.manual) rect(m.box, "manual");
  $("where").textContent = `frame ${here + 1} / ${info.frames} (index ${current.index}${current.name ? ", " + current.name : ""})`;
  $("reasons").textContent = current.flags.join("; ");
  for (const li of $("flags").children) li.classList.toggle("here", Number(li.dataset.position) === here);
}
function toggleRemove(box) {
  const edit = editOf(here);
  const at = edit.remove.findIndex((r) => same(r, box));
  if (at >= 0) { edit.remove.splice(at, 1); history.push({p: here, undo: () => editOf(here).remove.splice(at, 0, box)}); }
  else { edit.remove.push(box); const p = here; history.push({p, undo: () => editOf(p).remove.splice(editOf(p).remove.indexOf(box), 1)}); }
  draw();
}
function addManual(item, also = () => {}) {
  const p = here, edit = editOf(p);
  edit.manual.push(item);
  history.push({p, undo: () => { editOf(p).manual.splice(editOf(p).manual.indexOf(item), 1); also(); }});
  draw();
}
async function go(p) {
  if (!info || p < 0 || p >= info.frames) return;
  const started = performance.now();
  here = p;
  const img = new Image();
  const loaded = new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; });
  img.src = `${location.origin}/frame/${p}.jpg?t=${Date.now()}`;
  const [frame] = await Promise.all([api(`/api/frame/${p}`), loaded]);
  if (here !== p) return;
  $("frame").src = img.src;
  current = frame;
  draw();
  document.body.dataset.position = String(p);
  document.body.dataset.stepMs = (performance.now() - started).toFixed(1);
}
function point(ev) {
  const r = $("overlay").getBoundingClientRect();
  return [Math.max(0, Math.min(info.width, (ev.clientX - r.left) * info.width / r.width)),
          Math.max(0, Math.min(info.height, (ev.clientY - r.top) * info.height / r.height))];
}
$("overlay").addEventListener("mousedown", (ev) => {
  drag = {from: point(ev), el: rect([0, 0, 0, 0], "manual")};
  ev.preventDefault();
});
window.addEventListener("mousemove", (ev) => {
  if (!drag) return;
  const [a, b] = [drag.from, point(ev)];
  const box = [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  drag.el.setAttribute("x", box[0]); drag.el.setAttribute("y", box[1]);
  drag.el.setAttribute("width", box[2] - box[0]); drag.el.setAttribute("height", box[3] - box[1]);
  drag.box = box;
});
window.addEventListener("mouseup", () => {
  if (!drag) return;
  const box = drag.box && drag.box.map(Math.round);
  drag = null;
  if (!box || box[2] - box[0] < 3 || box[3] - box[1] < 3) return draw();  // a click, not a box
  const previous = lastDrawn;  // an undone box is no longer the one `e` extends
  lastDrawn = {box, class: $("cls").value, track: nextTrack++};
  addManual(lastDrawn, () => { lastDrawn = previous; });
});
function extend() {
  // The last box drawn, on this frame too, with its track: apply fills the frames between.
  if (!lastDrawn) return;
  addManual({box: lastDrawn.box.slice(), class: lastDrawn.class, track: lastDrawn.track});
}
function undo() {
  const step = history.pop();
  if (step) { step.undo(); if (step.p !== here) go(step.p); else draw(); }
}
function nextFlagged() {
  const after = info.flagged.map(([p]) => p).filter((p) => p > here);
  go(after.length ? after[0] : (info.flagged.length ? info.flagged[0][0] : here));
}
function payload() {
  const out = {};
  for (const [p, e] of Object.entries(edits)) if (e.manual.length || e.remove.length) out[p] = e;
  return JSON.stringify({edits: out});
}
async function act(path, label) {
  $("status").textContent = `${label}...`;
  $("error").textContent = "";
  try {
    const result = await api(path, {method: "POST", body: payload(), headers: {"Content-Type": "application/json"}});
    $("status").textContent = `${label}: ${result.saved || result.output}`;
    return result;
  } catch (err) {
    $("error").textContent = err.message;
    $("status").textContent = "";
    throw err;
  }
}
async function save() { await act("/api/save", "saved"); document.body.dataset.saved = String(Date.now()); }
async function render() {
  await act("/api/save", "saved");
  await act("/api/render", "rendered");
  edits = {}; history = []; lastDrawn = null;  // now part of the new output's audit
  await load(here);
  document.body.dataset.rendered = String(Date.now());
}
async function load(p) {
  info = await api("/api/info");
  for (const [q, e] of Object.entries(info.edits)) edits[q] = {manual: e.manual || [], remove: e.remove || []};
  $("flags").innerHTML = "";
  for (const [q, reasons] of info.flagged) {
    const li = document.createElement("li");
    li.dataset.position = q;
    li.textContent = `frame ${Number(q) + 1}: ${reasons.join("; ")}`;
    li.onclick = () => go(Number(q));
    $("flags").appendChild(li);
  }
  if (!info.flagged.length) $("flags").innerHTML = info.verified ? "<li>none</li>" : "<li>no verify report (vpipe verify)</li>";
  document.title = `vpipe review: ${info.output}`;
  await go(p);
}
$("prev").onclick = () => go(here - 1);
$("next").onclick = () => go(here + 1);
$("nextflag").onclick = nextFlagged;
$("undo").onclick = undo;
$("extend").onclick = extend;
$("save").onclick = save;
$("render").onclick = render;
window.addEventListener("keydown", (ev) => {
  if (ev.target.tagName === "SELECT") return;
  const keys = {ArrowRight: () => go(here + 1), ArrowLeft: () => go(here - 1), n: nextFlagged, z: undo, e: extend};
  if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
});
load(0).then(() => { document.body.dataset.ready = "1"; }, (err) => { $("error").textContent = err.message; });
</script></body></html>
"""

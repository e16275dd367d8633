// Track replay (issue 21): a vehicle's day on the map, opened from its compliance row: its fixes'
// path coloured covered (within the route's speed limit) or overspeed (speed_kmh above it), and
// the route's missed segments (from the compliance row) drawn red. The route is split as the
// service splits it: into equal segments of about [sanitation] segment_m (50 m), ids ROUTE-kkk.

import { dayStart } from "./charts.js";

const T = window.telemetry;
const { t, state, hooks } = T;
const L = window.L;
const SEGMENT_M = 50;
const replay = (window.telemetryTrack = { vehicle: null, fixes: 0, missed: [], overspeed: 0 });
let group = null;

function metres([lon0, lat0], [lon1, lat1]) {
  const r = 6371008.8, rad = Math.PI / 180;
  const a = Math.sin(((lat1 - lat0) * rad) / 2) ** 2 + Math.cos(lat0 * rad) * Math.cos(lat1 * rad) * Math.sin(((lon1 - lon0) * rad) / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(a));
}

/** The part of a line (lon, lat vertices) between distances a and b along it. */
function slice(line, a, b) {
  const out = [];
  let done = 0;
  for (let k = 1; k < line.length; k++) {
    const leg = metres(line[k - 1], line[k]);
    const s0 = done, s1 = done + leg;
    done = s1;
    if (s1 < a || s0 > b || leg === 0) continue;
    const at = (s) => { const f = Math.min(1, Math.max(0, (s - s0) / leg)); return [line[k - 1][0] + f * (line[k][0] - line[k - 1][0]), line[k - 1][1] + f * (line[k][1] - line[k - 1][1])]; };
    if (!out.length) out.push(at(Math.max(a, s0)));
    out.push(at(Math.min(b, s1)));
  }
  return out;
}

function missedStretches(route, ids) {
  const lines = route.geometry.type === "LineString" ? [route.geometry.coordinates] : route.geometry.coordinates;
  const line = lines.flat();
  let length = 0;
  for (let k = 1; k < line.length; k++) length += metres(line[k - 1], line[k]);
  const index = ids.map((id) => Number(id.slice(id.lastIndexOf("-") + 1))).filter((k) => Number.isFinite(k));
  const n = Math.max(1, Math.round(length / SEGMENT_M), ...index.map((k) => k + 1));
  return ids.map((id, i) => ({ id, coords: slice(line, (index[i] * length) / n, ((index[i] + 1) * length) / n) })).filter((s) => s.coords.length > 1);
}

function clear() { group?.clearLayers(); replay.vehicle = null; }

async function show(row, date) {
  const map = state.map;
  if (!group) group = L.layerGroup().addTo(map.leaflet);
  group.clearLayers();
  const start = dayStart(date);
  const series = await T.api(`/api/v1/series/vehicle_position?device=${encodeURIComponent(row.vehicle)}&field=lat,lon,speed_kmh`
    + `&start=${new Date(start).toISOString()}&stop=${new Date(start + 24 * 3600e3).toISOString()}`);
  const route = state.layers.routes.features.find((f) => f.properties.id === row.route);
  const limit = Number(route?.properties.speed_limit_kmh ?? Infinity);
  const fixes = series.items.filter((f) => f.lat != null && f.lon != null);
  const { toDisplay, renderer } = map;
  const runs = []; // consecutive fixes of one kind, as one polyline each
  for (let k = 1; k < fixes.length; k++) {
    const kind = (fixes[k].speed_kmh ?? 0) > limit ? "overspeed" : "covered";
    const last = runs[runs.length - 1];
    const p = toDisplay([fixes[k].lon, fixes[k].lat]);
    if (last && last.kind === kind) last.coords.push(p);
    else runs.push({ kind, coords: [toDisplay([fixes[k - 1].lon, fixes[k - 1].lat]), p] });
  }
  for (const r of runs) L.polyline(r.coords, { className: `track ${r.kind}`, renderer, interactive: false }).addTo(group);
  const missed = route ? missedStretches(route, row.missed_segments || []) : [];
  for (const s of missed) {
    const line = L.polyline(s.coords.map(toDisplay), { className: "track missed", renderer }).bindTooltip(`${t("track.missed")} ${s.id}`);
    line.on("add", () => line.getElement()?.setAttribute("data-segment", s.id));
    line.addTo(group);
  }
  Object.assign(replay, { vehicle: row.vehicle, fixes: fixes.length, missed: missed.map((s) => s.id), overspeed: runs.filter((r) => r.kind === "overspeed").length });
  const bounds = L.latLngBounds([...runs.flatMap((r) => r.coords), ...missed.flatMap((s) => s.coords.map(toDisplay))]);
  if (bounds.isValid()) map.leaflet.fitBounds(bounds, { padding: [24, 24] });
  const note = fixes.length ? "" : t("track.none");
  const node = hooks.openPanel(t("track.title", { v: row.vehicle, date }), note);
  node.replaceChildren(T.el("div", { class: "legend-track" },
    T.el("span", {}, T.el("i", { class: "sw level-green" }), t("track.covered")),
    T.el("span", {}, T.el("i", { class: "sw controlled" }), t("track.overspeed")),
    T.el("span", {}, T.el("i", { class: "sw level-red" }), `${t("track.missed")} (${missed.length})`)));
  document.querySelector("#map").scrollIntoView({ block: "nearest" });
}

hooks.track = (row, date) => show(row, date).catch((e) => hooks.openPanel(row.vehicle, e.message));
const previous = hooks.closeChart;
hooks.closeChart = () => { previous?.(); clear(); };

// Charts (issue 21, uPlot from vendor/uplot): a gauge's depth over 24 h with its thresholds and
// alerts (click a gauge on the map or its row), a toilet's entries per hour and its cleanings
// (click a toilet), the day's incidents per hour, the planned mission's terrain profile. Each
// uPlot instance is kept in window.telemetryCharts (the browser tests read their data).

const T = window.telemetry;
const { t, state, hooks } = T;
const $ = (sel) => document.querySelector(sel);
const charts = (window.telemetryCharts = {});
const enc = encodeURIComponent;
const iso = (ms) => new Date(ms).toISOString();
const zone = () => state.me?.timezone || "UTC";
const COLOURS = { depth: "#1f5fbf", yellow: "#e0a800", red: "#d62828", ground: "#8d6e63", flight: "#c2185b", bars: "#7b4fa0" };

/** Milliseconds from UTC of `tz` at instant `ms`. */
function offsetMs(ms, tz) {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}
/** The instant a site-local date (YYYY-MM-DD) begins. */
export function dayStart(date, tz = zone()) {
  const [y, m, d] = date.split("-").map(Number);
  const guess = Date.UTC(y, m - 1, d);
  return guess - offsetMs(guess - offsetMs(guess, tz), tz);
}
const siteHour = (ms) => { const local = ms + offsetMs(ms, zone()); return ((local / 3600e3) % 24 + 24) % 24; };

function width(node) { return Math.max(260, Math.min(1200, (node.clientWidth || node.parentElement?.clientWidth || 600) - 4)); }

/** Vertical marks (alerts, cleanings) at x values, drawn over the plot. */
function marks(list) {
  return { hooks: { draw: [(u) => {
    const { ctx } = u;
    ctx.save();
    for (const { x, colour } of list) {
      const px = u.valToPos(x, "x", true);
      if (px < u.bbox.left || px > u.bbox.left + u.bbox.width) continue;
      ctx.strokeStyle = colour; ctx.lineWidth = 2 * devicePixelRatio; ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
      ctx.beginPath(); ctx.moveTo(px, u.bbox.top); ctx.lineTo(px, u.bbox.top + u.bbox.height); ctx.stroke();
    }
    ctx.restore();
  }] } };
}

function plot(name, node, opts, data) {
  charts[name]?.destroy();
  node.replaceChildren();
  charts[name] = new uPlot({ width: width(node), height: 220, ...opts }, data, node);
  return charts[name];
}

function openPanel(title, note = "") {
  $("#chart-panel").hidden = false;
  $("#chart-title").textContent = title;
  $("#chart-note").textContent = note;
  return $("#chart");
}

const bars = () => uPlot.paths.bars({ size: [0.7, 40] });
const timeAxis = () => ({ tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone()) });

// ------------------------------------------------------------------ a gauge's 24 h
async function gauge(id) {
  const stop = Date.now() + 60e3, start = stop - 24 * 3600e3 - 60e3;
  const [series, alerts, mode] = await Promise.all([
    T.api(`/api/v1/series/water_depth?device=${enc(id)}&field=depth_cm&start=${iso(start)}&stop=${iso(stop)}`),
    T.api("/api/v1/alerts?state=all&kind=flood").catch(() => ({ items: [] })),
    T.api("/api/v1/mode").catch(() => null),
  ]);
  const layer = state.layers.gauges.features.find((f) => f.properties.id === id)?.properties.thresholds_cm;
  const yellow = layer?.yellow ?? mode?.in_force?.yellow_cm ?? null, red = layer?.red ?? mode?.in_force?.red_cm ?? null;
  const rows = series.items.filter((r) => r.depth_cm != null);
  // the window's ends (no reading) carry the thresholds across the whole 24 h
  const xs = [start / 1000, ...rows.map((r) => Date.parse(r.time) / 1000), stop / 1000];
  const depth = [null, ...rows.map((r) => r.depth_cm), null];
  const mine = alerts.items.filter((a) => a.subject === id && Date.parse(a.raised_at) >= start);
  const node = openPanel(t("chart.gauge", { id }), mine.length ? `${t("chart.alerts")}: ${mine.map((a) => `${T.time(a.raised_at)} ${T.level(a.level)}`).join(" · ")}` : "");
  const u = plot("gauge", node, {
    ...timeAxis(),
    scales: { x: { time: true, min: start / 1000, max: stop / 1000 } },
    series: [{}, { label: t("chart.depth"), stroke: COLOURS.depth, width: 2, points: { show: rows.length < 60 }, spanGaps: false },
      { label: t("chart.yellow"), stroke: COLOURS.yellow, dash: [6, 4], points: { show: false } },
      { label: t("chart.red"), stroke: COLOURS.red, dash: [6, 4], points: { show: false } }],
    plugins: [marks(mine.map((a) => ({ x: Date.parse(a.raised_at) / 1000, colour: a.level === "red" ? COLOURS.red : COLOURS.yellow })))],
  }, [xs, depth, xs.map(() => yellow), xs.map(() => red)]);
  u.gauge = id;
  u.alerts = mine.map((a) => a.id);
}

// ------------------------------------------------------------------ a toilet's day
async function toilet(id) {
  const date = T.today(), start = dayStart(date);
  const [metrics, events] = await Promise.all([
    T.api(`/api/v1/toilets/metrics?date=${date}`),
    T.api(`/api/v1/series/toilet_event?device=${enc(id)}&field=by&start=${iso(start)}&stop=${iso(start + 24 * 3600e3)}`).catch(() => ({ items: [] })),
  ]);
  const m = metrics.items.find((x) => x.toilet === id);
  const per = m?.entries_per_hour || new Array(24).fill(0);
  const cleanings = events.items.map((e) => siteHour(Date.parse(e.time)));
  const node = openPanel(t("chart.toilet", { id }), `${t("chart.cleanings")}: ${events.items.map((e) => T.time(e.time)).join(" · ") || "–"}`);
  const u = plot("toilet", node, {
    scales: { x: { time: false, min: -0.5, max: 23.5 } },
    axes: [{ values: (u, ticks) => ticks.map((v) => `${v}:00`) }, {}],
    series: [{ label: "h" }, { label: t("chart.entries"), fill: COLOURS.bars + "99", stroke: COLOURS.bars, paths: bars(), points: { show: false } }],
    plugins: [marks(cleanings.map((x) => ({ x: x - 0.5, colour: "#2e9e44" })))],
  }, [per.map((_, h) => h), per]);
  u.toilet = id;
  u.cleanings = cleanings;
}

// ------------------------------------------------------------------ the day's incidents
let lastIncidents = 0;
async function incidents() {
  if (Date.now() - lastIncidents < 30000 && charts.incidents) return;
  lastIncidents = Date.now();
  const date = T.today();
  let data;
  try { data = await T.api(`/api/v1/incidents?state=all&date=${date}`); } catch { return; }
  const opened = new Array(24).fill(0), closed = new Array(24).fill(0);
  for (const i of data.items) {
    if (i.opened_at) opened[Math.floor(siteHour(Date.parse(i.opened_at)))] += 1;
    const end = i.closed_at || i.resolved_at;
    if (end) closed[Math.floor(siteHour(Date.parse(end)))] += 1;
  }
  const node = $("#incidents-chart");
  plot("incidents", node, {
    height: 160, scales: { x: { time: false, min: -0.5, max: 23.5 } },
    axes: [{ values: (u, ticks) => ticks.map((v) => `${v}:00`) }, {}],
    series: [{ label: "h" }, { label: `${t("chart.count")} (${t("istate.open")})`, fill: "#d32f2f88", stroke: "#d32f2f", paths: bars(), points: { show: false } },
      { label: t("istate.resolved"), stroke: "#2e7d32", width: 2, points: { show: true } }],
  }, [opened.map((_, h) => h), opened, closed]);
}

// ------------------------------------------------------------------ the mission's terrain profile
function profile(m) {
  const node = $("#profile-chart");
  if (!node) return;
  const p = m.profile || [];
  if (!p.length) { charts.profile?.destroy(); delete charts.profile; node.replaceChildren(); return; }
  plot("profile", node, {
    height: 180, scales: { x: { time: false } },
    axes: [{ label: t("chart.distance") }, { label: "m" }],
    series: [{ label: t("chart.distance") }, { label: t("chart.ground"), stroke: COLOURS.ground, fill: COLOURS.ground + "55", width: 1, points: { show: false } },
      { label: t("chart.flight"), stroke: COLOURS.flight, width: 2, points: { show: false } }],
  }, [p.map((x) => x.distance_m), p.map((x) => x.ground_m), p.map((x) => x.flight_m)]);
}

function close() {
  $("#chart-panel").hidden = true;
  for (const name of ["gauge", "toilet"]) { charts[name]?.destroy(); delete charts[name]; }
  hooks.closeChart?.();
}

const guard = (fn) => (...args) => fn(...args).catch((e) => { $("#chart-note").textContent = e.message; });
hooks.gauge = guard(gauge);
hooks.toilet = guard(toilet);
hooks.missionChanged = profile;
hooks.incidents = () => { incidents(); };
hooks.openPanel = openPanel;
$("#chart-close").addEventListener("click", close);

// City telemetry dashboard: plain ES modules, no dependencies, nothing from the internet.
// Data comes from the HTTP API with the user's bearer token; live views from /api/v1/events.
// Everything from devices is inserted as text (never as HTML): device ids come from MQTT topics.

const $ = (sel) => document.querySelector(sel);
const SVGNS = "http://www.w3.org/2000/svg";
const state = {
  token: sessionStorage.getItem("telemetry-token") || "",
  me: null, layers: null, gauges: null, drones: [], vehicles: [], alerts: [],
  mission: null, missionPreviews: new Map(), points: [], stream: null, timers: [],
};

// ---------------------------------------------------------------- HTTP
async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.json) };
  }
  const r = await fetch(path, { ...options, headers });
  if (r.status === 401) { logout("Your token was not accepted."); throw new Error("unauthorized"); }
  const type = r.headers.get("content-type") || "";
  const body = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body?.error?.message || `${r.status} ${r.statusText}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : typeof v === "number" ? v.toFixed(digits) : String(v));
const time = (iso) =>
  iso ? new Date(iso).toLocaleTimeString("en-GB", { timeZone: state.me?.timezone || "UTC", hour12: false }) : "–";
const can = (permission) => !!state.me && state.me.permissions.includes(permission);

// ---------------------------------------------------------------- login
async function login(token) {
  const r = await fetch("/api/v1/me", { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) {
    sessionStorage.removeItem("telemetry-token");
    $("#login-error").textContent = r.status === 401 ? "Unknown token." : `Login failed: ${r.status}`;
    return;
  }
  state.token = token;
  state.me = await r.json();
  sessionStorage.setItem("telemetry-token", token);
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  $("#who").textContent = `${state.me.user} (${state.me.role})`;
  for (const node of document.querySelectorAll("[data-needs]")) {
    if (!can(node.dataset.needs)) node.remove(); // not hidden: gone, for this role
  }
  state.layers = await api("/api/v1/assets");
  fitMap();
  fillAreas();
  drawMap();
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: state.me.timezone }).format(new Date());
  $("#compliance-date").value = today;
  refreshToilets();
  refreshCompliance();
  state.timers.push(setInterval(refreshToilets, 30000), setInterval(refreshCompliance, 60000));
  listen();
}

function logout(message = "") {
  sessionStorage.removeItem("telemetry-token");
  state.token = "";
  state.stream?.abort();
  state.timers.forEach(clearInterval);
  location.hash = "";
  if (message) sessionStorage.setItem("telemetry-message", message);
  location.reload();
}

// ---------------------------------------------------------------- live updates (SSE)
async function listen() {
  while (state.token) {
    const ctl = new AbortController();
    state.stream = ctl;
    try {
      const r = await fetch("/api/v1/events", { headers: { Authorization: `Bearer ${state.token}` }, signal: ctl.signal });
      if (r.status === 401) return logout("Your token was not accepted.");
      if (!r.ok || !r.body) throw new Error(`events: ${r.status}`);
      setLive(true);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          onFrame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    setLive(false);
    await new Promise((done) => setTimeout(done, 2000));
  }
}

function setLive(on) {
  $("#live").classList.toggle("on", on);
  $("#live").textContent = on ? "live" : "reconnecting";
}

function onFrame(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (!data.length) return;
  const value = JSON.parse(data.join("\n"));
  if (event === "gauges") { state.gauges = value; renderGauges(); }
  else if (event === "alerts") { state.alerts = value; renderAlerts(); }
  else if (event === "drones") { state.drones = value; renderDrones(); }
  else if (event === "vehicles") { state.vehicles = value; }
  drawMap();
}

// ---------------------------------------------------------------- map (no tiles: drawn from the assets)
const map = { lon0: 121.55, lat0: 29.87, k: 10000, view: [0, 0, 800, 560], drag: null };

function project([lon, lat]) {
  return [(lon - map.lon0) * map.k * Math.cos((map.lat0 * Math.PI) / 180), -(lat - map.lat0) * map.k];
}
function unproject([x, y]) {
  return [x / (map.k * Math.cos((map.lat0 * Math.PI) / 180)) + map.lon0, -y / map.k + map.lat0];
}

function fitMap() {
  const pts = [];
  const walk = (c) => (typeof c[0] === "number" ? pts.push(c) : c.forEach(walk));
  for (const name of ["routes", "stops", "toilets", "gauges", "vehicles"]) {
    for (const f of state.layers[name].features) if (f.geometry) walk(f.geometry.coordinates);
  }
  for (const f of state.layers.areas.features) if (f.properties.kind !== "controlled") walk(f.geometry.coordinates);
  if (!pts.length) return;
  const lons = pts.map((p) => p[0]), lats = pts.map((p) => p[1]);
  map.lon0 = (Math.min(...lons) + Math.max(...lons)) / 2;
  map.lat0 = (Math.min(...lats) + Math.max(...lats)) / 2;
  map.k = 1;
  const [x0, y0] = project([Math.min(...lons), Math.max(...lats)]);
  const [x1, y1] = project([Math.max(...lons), Math.min(...lats)]);
  map.k = 0.9 * Math.min(800 / (x1 - x0 || 1e-6), 560 / (y1 - y0 || 1e-6));
  map.view = [-400, -280, 800, 560];
  $("#map").setAttribute("viewBox", map.view.join(" "));
}

const pathOf = (coords) => coords.map((c, i) => `${i ? "L" : "M"}${project(c).map((v) => v.toFixed(1)).join(",")}`).join("");
const ringsOf = (geometry) =>
  (geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates).flat().map((r) => `${pathOf(r)}Z`).join("");

function drawMap() {
  const svg = $("#map");
  if (!state.layers || !svg) return;
  const scale = map.view[2] / 800; // keep symbols the same size on screen when zoomed
  const g = el("svg:g");
  for (const f of state.layers.areas.features) {
    g.append(el("svg:path", { class: `area ${f.properties.kind}`, d: ringsOf(f.geometry) },
      el("svg:title", {}, `${f.properties.id} (${f.properties.kind})`)));
  }
  for (const f of state.layers.routes.features) {
    const lines = f.geometry.type === "LineString" ? [f.geometry.coordinates] : f.geometry.coordinates;
    for (const line of lines) g.append(el("svg:path", { class: "route", d: pathOf(line) }, el("svg:title", {}, `${f.properties.id} ${f.properties.name || ""}`)));
  }
  for (const f of state.layers.stops.features) {
    const [x, y] = project(f.geometry.coordinates);
    g.append(el("svg:circle", { class: "stop", cx: x, cy: y, r: 3 * scale }, el("svg:title", {}, `stop ${f.properties.id}`)));
  }
  for (const f of state.layers.toilets.features) {
    const [x, y] = project(f.geometry.coordinates);
    const s = 7 * scale;
    g.append(el("svg:rect", { class: "toilet", x: x - s / 2, y: y - s / 2, width: s, height: s }, el("svg:title", {}, `toilet ${f.properties.id} ${f.properties.name || ""}`)));
  }
  for (const f of (state.gauges || state.layers.gauges).features) {
    if (!f.geometry) continue;
    const [x, y] = project(f.geometry.coordinates);
    const p = f.properties;
    const level = p.level || "green";
    g.append(el("svg:circle", { class: `gauge level-${level}${p.offline ? " offline" : ""}`, "data-id": p.id, "data-level": level, cx: x, cy: y, r: 7 * scale },
      el("svg:title", {}, `${p.id} ${p.name || ""}: ${level}${p.offline ? " (offline)" : ""}${p.depth_cm != null ? `, ${fmt(p.depth_cm)} cm` : ""}`)));
    g.append(el("svg:text", { x: x + 9 * scale, y: y + 3 * scale, style: `font-size:${9 * scale}px` }, p.id));
  }
  for (const v of state.vehicles) {
    if (v.lat == null || v.lon == null) continue;
    const [x, y] = project([v.lon, v.lat]);
    const s = 4 * scale;
    g.append(el("svg:path", { class: "vehicle", "data-id": v.id, d: `M${x},${y - s}L${x + s},${y}L${x},${y + s}L${x - s},${y}Z` },
      el("svg:title", {}, `${v.id} ${fmt(v.speed_kmh)} km/h at ${time(v.time)}`)));
  }
  const previews = new Map(state.missionPreviews);
  if (state.mission) previews.set(state.mission.id, state.mission);
  for (const m of previews.values()) {
    const wps = m.waypoints.filter((w) => w.lat || w.lon);
    if (!wps.length) continue;
    g.append(el("svg:path", { class: "mission-path", d: pathOf(wps.map((w) => [w.lon, w.lat])) }));
    for (const w of wps) {
      const [x, y] = project([w.lon, w.lat]);
      g.append(el("svg:circle", { class: "waypoint", cx: x, cy: y, r: 2.5 * scale }, el("svg:title", {}, `${m.id} #${w.seq} ${fmt(w.alt_m, 0)} m`)));
    }
  }
  for (const p of state.points) {
    const [x, y] = project(p);
    g.append(el("svg:circle", { class: "pick", cx: x, cy: y, r: 4 * scale }));
  }
  for (const d of state.drones) {
    if (d.lat == null || d.lon == null) continue;
    const [x, y] = project([d.lon, d.lat]);
    const s = 7 * scale;
    g.append(el("svg:path", { class: `drone${d.online ? "" : " offline"}`, "data-id": d.drone, d: `M${x},${y - s}L${x + s},${y + s}L${x - s},${y + s}Z` },
      el("svg:title", {}, `drone ${d.drone} ${d.mode || ""} ${fmt(d.alt_rel_m)} m`)));
    g.append(el("svg:text", { x: x + 9 * scale, y: y + 3 * scale, style: `font-size:${9 * scale}px` }, `D${d.drone}`));
  }
  svg.replaceChildren(g);
}

function setupMapControls() {
  const svg = $("#map");
  const toMap = (evt) => {
    const r = svg.getBoundingClientRect();
    return [map.view[0] + ((evt.clientX - r.left) / r.width) * map.view[2], map.view[1] + ((evt.clientY - r.top) / r.height) * map.view[3]];
  };
  svg.addEventListener("wheel", (evt) => {
    evt.preventDefault();
    const [mx, my] = toMap(evt);
    const f = evt.deltaY > 0 ? 1.25 : 0.8;
    map.view = [mx - (mx - map.view[0]) * f, my - (my - map.view[1]) * f, map.view[2] * f, map.view[3] * f];
    svg.setAttribute("viewBox", map.view.join(" "));
    drawMap();
  }, { passive: false });
  svg.addEventListener("pointerdown", (evt) => { map.drag = { x: evt.clientX, y: evt.clientY, view: [...map.view], moved: false }; });
  svg.addEventListener("pointermove", (evt) => {
    if (!map.drag) return;
    const r = svg.getBoundingClientRect();
    const dx = ((evt.clientX - map.drag.x) / r.width) * map.view[2], dy = ((evt.clientY - map.drag.y) / r.height) * map.view[3];
    if (Math.abs(evt.clientX - map.drag.x) + Math.abs(evt.clientY - map.drag.y) > 3) map.drag.moved = true;
    map.view = [map.drag.view[0] - dx, map.drag.view[1] - dy, map.view[2], map.view[3]];
    svg.setAttribute("viewBox", map.view.join(" "));
  });
  svg.addEventListener("pointerup", (evt) => {
    const click = map.drag && !map.drag.moved;
    map.drag = null;
    if (click && $("#plan-type")?.value === "points") {
      state.points.push(unproject(toMap(evt)));
      $("#plan-points-count").textContent = state.points.length;
      drawMap();
    }
  });
}

// ---------------------------------------------------------------- panels
function renderGauges() {
  const rows = state.gauges.features.map(({ properties: p }) =>
    el("tr", { "data-id": p.id, "data-level": p.level },
      el("td", {}, p.id, " ", el("span", { class: "sub" }, p.name || "")),
      el("td", {}, p.road || "–"),
      el("td", {}, el("span", { class: `badge level-${p.level}` }, p.sensor_fault ? `${p.level} (fault)` : p.level),
        p.offline ? el("span", { class: "badge off" }, "offline") : ""),
      el("td", {}, fmt(p.depth_cm)), el("td", {}, fmt(p.rise_cm_per_10min)), el("td", {}, time(p.since))));
  $("#gauges tbody").replaceChildren(...rows);
}

function renderAlerts() {
  $("#alert-count").textContent = state.alerts.length;
  const items = state.alerts.map((a) =>
    el("li", { "data-id": a.id, "data-kind": a.kind },
      el("span", { class: `badge level-${a.level}` }, a.level || "alert"),
      el("b", {}, `${a.kind} ${a.subject}`),
      el("span", { class: "reason" }, a.reason),
      el("span", { class: "sub" }, time(a.raised_at)),
      a.acknowledged_by
        ? el("span", { class: "acked" }, `ack ${a.acknowledged_by}`)
        : can("ack") ? el("button", { type: "button", class: "ack", onclick: () => acknowledge(a.id) }, "Acknowledge") : null));
  $("#alerts").replaceChildren(...items);
}

async function acknowledge(id) {
  try {
    const a = await api(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, { method: "POST" });
    state.alerts = state.alerts.map((x) => (x.id === a.id ? a : x));
    renderAlerts();
  } catch (e) { alert(e.message); }
}

function renderDrones() {
  const rows = state.drones.map((d) =>
    el("tr", { "data-id": d.drone },
      el("td", {}, `D${d.drone}`),
      el("td", {}, el("span", { class: `badge ${d.online ? "ok" : "off"}` }, d.online ? "online" : "offline")),
      el("td", {}, d.autopilot || "–"),
      el("td", {}, d.mode || "–"), el("td", {}, d.armed ? "armed" : "disarmed"),
      el("td", { class: d.fix === "no fix" ? "nofix" : "" }, d.fix === "no fix" ? "no fix" : d.lat == null ? "–" : d.fix || "position"),
      el("td", {}, d.battery_pct == null ? "–" : `${fmt(d.battery_pct, 0)} %`),
      el("td", {}, d.alt_rel_m == null ? "–" : `${fmt(d.alt_rel_m)} m`),
      el("td", {}, d.mission ? `${d.mission.id} ${d.mission.state} ${d.mission.current}/${d.mission.total}` : "–")));
  $("#drones tbody").replaceChildren(...rows);
  for (const d of state.drones) {
    if (d.mission && !state.missionPreviews.has(d.mission.id) && d.mission.id !== state.mission?.id) {
      state.missionPreviews.set(d.mission.id, { id: d.mission.id, waypoints: [] });
      api(`/api/v1/missions/${encodeURIComponent(d.mission.id)}`).then((m) => { state.missionPreviews.set(m.id, m); drawMap(); }).catch(() => {});
    }
  }
  const select = $("#plan-drone");
  if (select) {
    const chosen = select.value;
    select.replaceChildren(...state.drones.filter((d) => d.online).map((d) => el("option", { value: d.drone }, `D${d.drone}`)));
    if (chosen && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }
  renderMissionProgress();
}

async function refreshToilets() {
  const date = new Intl.DateTimeFormat("en-CA", { timeZone: state.me.timezone }).format(new Date());
  let data;
  try { data = await api(`/api/v1/toilets/metrics?date=${date}`); } catch { return; }
  const names = new Map(state.layers.toilets.features.map((f) => [f.properties.id, f.properties.name]));
  const cards = data.items.map((t) => {
    const max = Math.max(1, ...t.entries_per_hour);
    const bars = t.entries_per_hour.map((n, h) => el("svg:rect", { x: h * 10 + 1, y: 60 - (n / max) * 58, width: 8, height: (n / max) * 58 }, el("svg:title", {}, `${h}:00 ${n} entries`)));
    return el("div", { class: "toilet-card", "data-id": t.toilet },
      el("b", {}, t.toilet), " ", el("span", { class: "sub" }, names.get(t.toilet) || ""),
      el("svg:svg", { width: 240, height: 60, viewBox: "0 0 240 60" }, bars),
      el("div", {}, `${t.entries} entries · cleaned ${t.cleanings_done}× · air exceedances ${t.air_exceedances} · `,
        el("span", { class: `badge ${t.cleaning_overdue_now ? "bad" : "ok"}` }, t.cleaning_overdue_now ? "cleaning overdue" : "clean")));
  });
  $("#toilets").replaceChildren(...cards);
}

function missedCell(missed) {
  if (!missed.length) return el("td", {}, "–");
  const shown = missed.slice(0, 4).join(" ") + (missed.length > 4 ? ` … (${missed.length})` : "");
  return el("td", { title: missed.join(" ") }, shown);
}

async function refreshCompliance(evt) {
  evt?.preventDefault();
  const date = $("#compliance-date").value;
  if (!date) return;
  let data;
  try { data = await api(`/api/v1/sanitation/compliance?date=${date}`); } catch (e) { $("#compliance-summary").textContent = e.message; return; }
  const pct = (v) => (v == null ? "–" : `${(100 * v).toFixed(0)} %`);
  const rows = data.items.map((c) =>
    el("tr", { "data-vehicle": c.vehicle, "data-compliant": c.compliant },
      el("td", {}, c.vehicle), el("td", {}, c.route ?? "–"), el("td", {}, pct(c.coverage_ratio)),
      el("td", {}, `${c.valid_passes} / ${c.planned_passes}`), el("td", {}, pct(c.overspeed_ratio)),
      el("td", {}, fmt(c.off_route_s, 0)), el("td", {}, fmt(c.gap_s, 0)),
      missedCell(c.missed_segments || []),
      el("td", {}, c.stops_planned ? `${c.stops_served} / ${c.stops_planned}` : "–"),
      el("td", {}, el("span", { class: `badge ${c.compliant ? "ok" : "bad"}`, title: c.note || "" }, c.compliant ? "yes" : "no"))));
  $("#compliance tbody").replaceChildren(...rows);
  const ok = data.items.filter((c) => c.compliant).length;
  $("#compliance-summary").textContent = `${ok} of ${data.count} compliant`;
}

// ---------------------------------------------------------------- mission planner (pilots)
function fillAreas() {
  const select = $("#plan-area");
  if (!select) return;
  const areas = state.layers.areas.features.filter((f) => f.properties.kind === "patrol");
  select.replaceChildren(...areas.map((f) => el("option", { value: f.properties.id }, f.properties.id)));
}

function showPlanFields() {
  const type = $("#plan-type").value;
  for (const node of $("#plan-form").querySelectorAll("[class*='for-']")) {
    node.hidden = !node.classList.contains(`for-${type}`);
  }
}

function chosenDrone() {
  const id = Number($("#plan-drone").value);
  return state.drones.find((d) => d.drone === id) || null;
}

async function plan(evt) {
  evt.preventDefault();
  const type = $("#plan-type").value;
  const common = { altitude_agl_m: Number($("#plan-alt").value), speed_ms: Number($("#plan-speed").value) };
  const drone = chosenDrone();
  if (drone && drone.lat != null && drone.lon != null) common.home = [drone.lon, drone.lat];
  const loiter_s = Number($("#plan-loiter").value);
  let body;
  if (type === "hotspots") body = { type, source: "flood_alerts", min_level: $("#plan-min-level").value, loiter_s, ...common };
  else if (type === "survey") {
    const area = state.layers.areas.features.find((f) => f.properties.id === $("#plan-area").value);
    if (!area) return message("Pick an area.");
    body = { type, area: area.geometry, ...common };
  } else {
    if (!state.points.length) return message("Click the map to add points first.");
    body = { type, points: state.points, loiter_s, ...common };
  }
  try {
    state.mission = await api("/api/v1/missions", { method: "POST", json: body });
    message(`Planned ${state.mission.id}.`);
  } catch (e) { return message(e.message); }
  renderMission();
  drawMap();
}

function renderMission() {
  const m = state.mission;
  $("#mission").hidden = !m;
  if (!m) return;
  $("#mission-id").textContent = m.id;
  $("#mission-type").textContent = m.type;
  $("#mission-waypoints").textContent = m.waypoints.length;
  $("#mission-state").textContent = m.state;
  const c = m.checks;
  const checks = [
    [c.max_true_height_m <= c.height_limit_m, `true height up to ${fmt(c.max_true_height_m)} m (limit ${c.height_limit_m} m) · ${c.terrain}`],
    [!c.no_fly_violations.length, c.no_fly_violations.length ? `no-fly: ${c.no_fly_violations.join(", ")}` : "no no-fly area crossed"],
    [c.battery_ok, `about ${Math.round(c.estimated_flight_s / 60)} min of flight, ${fmt(c.battery_at_rtl_pct, 0)} % battery left`],
    [!c.approval_required || !!m.approval_id, c.approval_required ? `approval needed: ${c.approval_reasons.join("; ")}${m.approval_id ? ` · recorded ${m.approval_id}` : ""}` : "no approval needed"],
  ];
  $("#mission-checks").replaceChildren(...checks.map(([ok, text]) => el("li", { class: ok ? "ok" : c.flyable ? "warn" : "fail" }, `${ok ? "✓" : "✗"} ${text}`)));
  $("#approval-row").hidden = !(c.approval_required && !m.approval_id);
  $("#upload").disabled = !c.flyable || m.state === "running";
  $("#upload-drone-name").textContent = $("#plan-drone").value ? `D${$("#plan-drone").value}` : "the drone";
  $("#launch").disabled = !(m.state === "verified" && c.flyable && (!c.approval_required || m.approval_id));
  renderMissionProgress();
}

function renderMissionProgress() {
  const m = state.mission;
  if (!m || !$("#mission-progress")) return;
  const d = state.drones.find((x) => x.mission && x.mission.id === m.id);
  if (!d) return;
  $("#mission-progress").max = Math.max(1, d.mission.total - 1);
  $("#mission-progress").value = d.mission.current;
  $("#mission-progress-text").textContent = `D${d.drone}: item ${d.mission.current} of ${d.mission.total} · ${d.mission.state}`;
  if (d.mission.state !== m.state && ["running", "done", "failed"].includes(d.mission.state)) {
    m.state = d.mission.state;
    $("#mission-state").textContent = m.state;
  }
}

const message = (text) => { $("#mission-message").textContent = text; };

async function missionAction(action) {
  const m = state.mission;
  try {
    if (action === "approve") {
      state.mission = await api(`/api/v1/missions/${m.id}/approval`, { method: "POST", json: { approval_id: $("#approval-id").value.trim() } });
      message(`Approval ${state.mission.approval_id} recorded.`);
    } else if (action === "upload") {
      const drone = Number($("#plan-drone").value);
      if (!drone) return message("No drone online.");
      message(`Uploading to D${drone}…`);
      const r = await api(`/api/v1/missions/${m.id}/upload`, { method: "POST", json: { drone } });
      state.mission = await api(`/api/v1/missions/${m.id}`);
      message(r.ok ? `Uploaded ${r.items} items to D${drone}, read back and verified.` : `Upload failed: ${r.error}`);
    } else if (action === "launch") {
      state.mission = await api(`/api/v1/missions/${m.id}/start`, { method: "POST" });
      message(`Launched ${m.id}.`);
    }
  } catch (e) { message(e.message); }
  renderMission();
  drawMap();
}

async function download(ext) {
  const m = state.mission;
  const r = await fetch(`/api/v1/missions/${m.id}.${ext}`, { headers: { Authorization: `Bearer ${state.token}` } });
  const url = URL.createObjectURL(await r.blob());
  el("a", { href: url, download: `${m.id}.${ext}` }).click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---------------------------------------------------------------- start
function start() {
  const note = sessionStorage.getItem("telemetry-message");
  if (note) { $("#login-error").textContent = note; sessionStorage.removeItem("telemetry-message"); }
  $("#login-form").addEventListener("submit", (evt) => { evt.preventDefault(); login($("#token").value.trim()); });
  $("#logout").addEventListener("click", () => logout());
  $("#compliance-form").addEventListener("submit", refreshCompliance);
  setupMapControls();
  if ($("#plan-form")) {
    $("#plan-form").addEventListener("submit", plan);
    $("#plan-type").addEventListener("change", showPlanFields);
    $("#plan-drone").addEventListener("change", () => state.mission && renderMission());
    $("#plan-points-clear").addEventListener("click", () => { state.points = []; $("#plan-points-count").textContent = 0; drawMap(); });
    $("#approve").addEventListener("click", () => missionAction("approve"));
    $("#upload").addEventListener("click", () => missionAction("upload"));
    $("#launch").addEventListener("click", () => missionAction("launch"));
    $("#export-plan").addEventListener("click", (evt) => { evt.preventDefault(); download("plan"); });
    $("#export-wpl").addEventListener("click", (evt) => { evt.preventDefault(); download("waypoints"); });
    showPlanFields();
  }
  if (state.token) login(state.token);
}

start();

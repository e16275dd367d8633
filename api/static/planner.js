// Mission planner (pilots and admins): hotspots, a survey of a patrol area or of an area drawn on
// the map (geoman), or points clicked on the map and dragged; preview and checks, re-planned when
// the points or the drawn area change; approval, upload, launch and progress.

const T = window.telemetry;
const { el, fmt, t, state, hooks } = T;
const $ = (sel) => document.querySelector(sel);
const DRAWN = "__drawn";

function fillAreas() {
  const areas = state.layers.areas.features.filter((f) => f.properties.kind === "patrol");
  $("#plan-area").replaceChildren(...areas.map((f) => el("option", { value: f.properties.id }, f.properties.id)));
}

function showPlanFields() {
  const type = $("#plan-type").value;
  for (const node of $("#plan-form").querySelectorAll("[class*='for-']")) node.hidden = !node.classList.contains(`for-${type}`);
}

const chosenDrone = () => state.drones.find((d) => d.drone === Number($("#plan-drone").value)) || null;
const message = (text) => { $("#mission-message").textContent = text; };

function request() {
  const type = $("#plan-type").value;
  const common = { altitude_agl_m: Number($("#plan-alt").value), speed_ms: Number($("#plan-speed").value) };
  const drone = chosenDrone();
  if (drone && drone.lat != null && drone.lon != null) common.home = [drone.lon, drone.lat];
  const loiter_s = Number($("#plan-loiter").value);
  if (type === "hotspots") return { type, source: "flood_alerts", min_level: $("#plan-min-level").value, loiter_s, ...common };
  if (type === "survey") {
    const drawn = $("#plan-area").value === DRAWN ? state.map.areaGeometry() : null;
    const area = drawn || state.layers.areas.features.find((f) => f.properties.id === $("#plan-area").value)?.geometry;
    if (!area) { message(t("plan.pickarea")); return null; }
    return { type, area, ...common };
  }
  if (!state.points.length) { message(t("plan.pickpoints")); return null; }
  return { type, points: state.points, loiter_s, ...common };
}

async function plan(evt) {
  evt?.preventDefault();
  const body = request();
  if (!body) return;
  try {
    state.mission = await T.api("/api/v1/missions", { method: "POST", json: body });
    state.missionRequest = body;
    message(t("plan.planned", { id: state.mission.id }));
  } catch (e) { return message(e.message); }
  renderMission();
  T.drawMap();
}

/** A planned (not yet uploaded) mission of this type is planned again when its input changes. */
function replan(type) {
  if (state.mission && state.mission.type === type && state.mission.state === "planned") plan();
}

function renderMission() {
  const m = state.mission;
  $("#mission").hidden = !m;
  if (!m) return;
  $("#mission-id").textContent = m.id;
  $("#mission-type").textContent = t(`plan.${m.type}`);
  $("#mission-waypoints").textContent = m.waypoints.length;
  $("#mission-state").textContent = m.state;
  $("#mission-state").title = t(`state.${m.state}`);
  const c = m.checks;
  const checks = [
    [c.max_true_height_m <= c.height_limit_m, t("check.height", { h: fmt(c.max_true_height_m), limit: c.height_limit_m, terrain: c.terrain })],
    [!c.no_fly_violations.length, c.no_fly_violations.length ? t("check.nofly", { list: c.no_fly_violations.join(", ") }) : t("check.nofly.ok")],
    [c.battery_ok, t("check.battery", { min: Math.round(c.estimated_flight_s / 60), pct: fmt(c.battery_at_rtl_pct, 0) })],
    [!c.approval_required || !!m.approval_id, c.approval_required
      ? t("check.approval", { reasons: c.approval_reasons.join("; ") }) + (m.approval_id ? t("check.approval.recorded", { id: m.approval_id }) : "")
      : t("check.approval.none")],
  ];
  $("#mission-checks").replaceChildren(...checks.map(([ok, text]) => el("li", { class: ok ? "ok" : c.flyable ? "warn" : "fail" }, `${ok ? "✓" : "✗"} ${text}`)));
  $("#approval-row").hidden = !(c.approval_required && !m.approval_id);
  $("#upload").disabled = !c.flyable || m.state === "running";
  $("#upload-drone-name").textContent = $("#plan-drone").value ? `D${$("#plan-drone").value}` : t("upload.thedrone");
  $("#launch").disabled = !(m.state === "verified" && c.flyable && (!c.approval_required || m.approval_id));
  renderMissionProgress();
  hooks.missionChanged?.(m);
}

function renderMissionProgress() {
  const m = state.mission;
  if (!m) return;
  const d = state.drones.find((x) => x.mission && x.mission.id === m.id);
  if (!d) return;
  $("#mission-progress").max = Math.max(1, d.mission.total - 1);
  $("#mission-progress").value = d.mission.current;
  $("#mission-progress-text").textContent = t("progress", { d: d.drone, current: d.mission.current, total: d.mission.total, state: d.mission.state });
  if (d.mission.state !== m.state && ["running", "done", "failed"].includes(d.mission.state)) {
    m.state = d.mission.state;
    $("#mission-state").textContent = m.state;
  }
}

async function missionAction(action) {
  const m = state.mission;
  try {
    if (action === "approve") {
      state.mission = await T.api(`/api/v1/missions/${m.id}/approval`, { method: "POST", json: { approval_id: $("#approval-id").value.trim() } });
      message(t("msg.approved", { id: state.mission.approval_id }));
    } else if (action === "upload") {
      const drone = Number($("#plan-drone").value);
      if (!drone) return message(t("msg.nodrone"));
      message(t("msg.uploading", { d: drone }));
      const r = await T.api(`/api/v1/missions/${m.id}/upload`, { method: "POST", json: { drone } });
      state.mission = await T.api(`/api/v1/missions/${m.id}`);
      message(r.ok ? t("msg.uploaded", { n: r.items, d: drone }) : t("msg.uploadfailed", { error: r.error }));
    } else if (action === "launch") {
      state.mission = await T.api(`/api/v1/missions/${m.id}/start`, { method: "POST" });
      message(t("msg.launched", { id: m.id }));
    }
  } catch (e) { message(e.message); }
  renderMission();
  T.drawMap();
}

async function download(ext) {
  const m = state.mission;
  const r = await fetch(`/api/v1/missions/${m.id}.${ext}`, { headers: { Authorization: `Bearer ${state.token}` } });
  const url = URL.createObjectURL(await r.blob());
  el("a", { href: url, download: `${m.id}.${ext}` }).click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function drones() {
  const select = $("#plan-drone");
  const chosen = select.value;
  select.replaceChildren(...state.drones.filter((d) => d.online).map((d) => el("option", { value: d.drone }, `D${d.drone}`)));
  if (chosen && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
  renderMissionProgress();
}

function pointsChanged() {
  $("#plan-points-count").textContent = state.points.length;
  replan("points");
}

function areaChanged() {
  const select = $("#plan-area");
  if (![...select.options].some((o) => o.value === DRAWN)) select.prepend(el("option", { value: DRAWN }, t("plan.drawn")));
  select.value = DRAWN;
  replan("survey");
}

let started = false;
function start() {
  if (started || !$("#plan-form")) return; // once; not at all for a role without missions
  started = true;
  fillAreas();
  $("#plan-form").addEventListener("submit", plan);
  $("#plan-type").addEventListener("change", showPlanFields);
  $("#plan-drone").addEventListener("change", () => state.mission && renderMission());
  $("#plan-points-clear").addEventListener("click", () => { state.points = []; state.map.drawPicks(); pointsChanged(); });
  $("#plan-draw").addEventListener("click", () => state.map.drawArea());
  $("#approve").addEventListener("click", () => missionAction("approve"));
  $("#upload").addEventListener("click", () => missionAction("upload"));
  $("#launch").addEventListener("click", () => missionAction("launch"));
  $("#export-plan").addEventListener("click", (evt) => { evt.preventDefault(); download("plan"); });
  $("#export-wpl").addEventListener("click", (evt) => { evt.preventDefault(); download("waypoints"); });
  showPlanFields();
  hooks.drones = drones;
  hooks.pickingPoints = () => $("#plan-type").value === "points";
  hooks.pointsChanged = pointsChanged;
  hooks.areaChanged = areaChanged;
  if (state.drones.length) drones();
}

const previous = hooks.loggedIn;
hooks.loggedIn = () => { previous?.(); start(); };
if (state.map) start();

// Scheduled patrols (issue 20): each schedule with its recurrence, its next three due times and
// its last run; a pilot or admin can delete one. Polls the API every few seconds; names from
// people are inserted as text.

const T = window.telemetry;
const $ = (sel) => document.querySelector(sel);
const POLL_MS = 5000;
const view = { schedules: [], timer: null };

const { t } = T;
const local = (iso) => T.when(iso);

function recurrence(s) {
  const base = s.weekly ? t("schedule.weekly", { days: s.weekly.days.join(","), time: s.weekly.time }) : t("schedule.every", { h: s.every_hours });
  return s.storm && s.storm_every_hours ? `${base} · ${t("schedule.storm", { h: s.storm_every_hours })}` : base;
}

function lastRun(r) {
  if (!r) return "–";
  const why = r.reason ? ` (${r.reason})` : "";
  return `${local(r.due)}: ${r.state}${r.launched ? ` · ${t("schedule.launched")}` : ""}${why}`;
}

async function remove(id) {
  if (!confirm(t("schedule.confirm", { id }))) return;
  try {
    await T.api(`/api/v1/schedules/${encodeURIComponent(id)}`, { method: "DELETE" });
    await refresh();
  } catch (e) { alert(e.message); }
}

function render() {
  const rows = view.schedules.map((s) => T.el("tr", { "data-id": s.id, class: s.last_run?.state === "failed" ? "failed" : "" },
    T.el("td", {}, s.name, " ", T.el("span", { class: "sub" }, s.id)),
    T.el("td", {}, t(`plan.${s.mission.type}`)), T.el("td", {}, s.drones.length ? s.drones.join(", ") : t("schedule.any")),
    T.el("td", {}, recurrence(s)), T.el("td", { class: "next" }, s.next_runs.map(local).join(" · ")),
    T.el("td", {}, s.launch ? t("schedule.launch") : t("schedule.pilot")), T.el("td", { class: "last" }, lastRun(s.last_run)),
    T.el("td", {}, T.can("missions") ? T.el("button", { type: "button", class: "delete", onclick: () => remove(s.id) }, t("schedule.delete")) : "")));
  $("#schedules tbody").replaceChildren(...rows);
  $("#schedule-count").textContent = view.schedules.length;
}

async function refresh() {
  try {
    view.schedules = (await T.api("/api/v1/schedules")).items;
    render();
  } catch (e) { console.warn("schedules:", e.message); }
}

const previous = T.hooks.loggedIn;
T.hooks.loggedIn = () => {
  previous?.();
  $("#schedules-panel").hidden = false;
  clearInterval(view.timer);
  view.timer = setInterval(refresh, POLL_MS);
  T.state.timers.push(view.timer);
  refresh();
};
if (T.state.map) T.hooks.loggedIn();

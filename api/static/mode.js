// The flood response level (issue 20): a banner in the header of every page with the level in
// force, since when and by whom, the thresholds and gauge interval it puts in force and how many
// gauges acknowledged; an admin gets a selector to set or leave the level. Polls the API.

const T = window.telemetry;
const POLL_MS = 5000;
const view = { mode: null, timer: null };
const { t } = T;
const name = (level) => t(`mode.${level}`);
const COLOURS = { none: ["#2e5b3a", "#fff"], IV: ["#1f5fbf", "#fff"], III: ["#f2c200", "#111"], II: ["#f07800", "#111"], I: ["#c4161c", "#fff"] };

function banner() {
  let node = document.querySelector("#mode-banner");
  if (!node) {
    node = T.el("span", { id: "mode-banner", class: "mode" });
    document.querySelector("header h1")?.after(node);
  }
  return node;
}

async function choose(level) {
  if (!confirm(level === "none" ? t("mode.leave") : t("mode.set", { level: name(level) }))) { render(); return; }
  try {
    view.mode = await T.api("/api/v1/mode", { method: "POST", json: { level } });
    render();
  } catch (e) { alert(e.message); render(); }
}

function render() {
  const m = view.mode;
  const node = banner();
  if (!m) { node.hidden = true; return; }
  const [bg, fg] = COLOURS[m.level] || COLOURS.none;
  node.hidden = false;
  node.dataset.level = m.level;
  node.setAttribute("style", `background:${bg};color:${fg};padding:.15rem .6rem;border-radius:.3rem;font-weight:600`);
  const f = m.in_force;
  const acked = m.gauges.filter((g) => g.acknowledged).length;
  const title = m.level === "none" ? t("mode.nolevel") :
    t("mode.title", { since: T.when(m.since), by: m.by, red: f.red_cm, yellow: f.yellow_cm, off: f.offline_after_s, s: f.interval_s, acked, n: m.gauges.length });
  node.title = title;
  const parts = [`${t("mode.label")}: ${name(m.level)}`];
  if (m.level !== "none") parts.push(t("mode.gauges", { acked, n: m.gauges.length, s: f.interval_s }));
  const children = [T.el("span", { class: "mode-level" }, ...parts)];
  if (T.can("admin")) {
    const select = T.el("select", { id: "mode-select", "aria-label": t("mode.label"), style: "margin-left:.5rem" },
      ...m.levels.map((l) => T.el("option", { value: l }, name(l))));
    select.value = m.level;
    select.addEventListener("change", () => choose(select.value));
    children.push(select);
  }
  node.replaceChildren(...children);
}

async function refresh() {
  try {
    const next = await T.api("/api/v1/mode");
    if (JSON.stringify(next) === JSON.stringify(view.mode)) return; // an open selector stays open
    view.mode = next;
    render();
  } catch (e) { console.warn("mode:", e.message); }
}

function start() {
  clearInterval(view.timer);
  view.timer = setInterval(refresh, POLL_MS);
  T.state.timers.push(view.timer);
  refresh();
}

const previous = T.hooks.loggedIn;
T.hooks.loggedIn = () => { previous?.(); start(); };
if (T.state.map) start();

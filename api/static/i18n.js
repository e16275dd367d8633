// Message catalogue (issue 21): every string of the page in zh-CN and en. The language is the
// browser's (navigator.language) until the user picks one in the header (kept in localStorage).
// Elements carry data-i18n="key" (text), data-i18n-title, data-i18n-placeholder, data-i18n-label.

const zh = {
  "app.title": "城市物联感知", "app.sub": "海曙", "lang.switch": "语言", "live.on": "实时", "live.off": "离线", "live.retry": "重连中",
  "live.title": "实时更新", "logout": "退出", "login.title": "登录", "login.token": "API 令牌", "login.button": "登录",
  "login.hint": "令牌决定权限：查看员只读，值班经理确认告警，飞手规划并执行航线。`telemetry demo` 会打印演示令牌。",
  "login.unknown": "令牌无效。", "login.failed": "登录失败：{status}", "login.rejected": "令牌未被接受。",
  "map.title": "地图", "map.label": "雨量计、清扫路线、车辆、无人机和区域地图", "map.stop": "收集点", "map.toilet": "公厕",
  "map.hint": "滚轮缩放 · 拖动平移", "legend.gauge": "积水点 正常", "legend.yellow": "黄色", "legend.red": "红色",
  "legend.route": "清扫路线", "legend.vehicle": "作业车辆", "legend.toilet": "公厕", "legend.drone": "无人机", "legend.officer": "处置人员",
  "legend.incident": "事件", "legend.patrol": "巡查区", "legend.no_fly": "禁飞区", "legend.controlled": "管制空域",
  "area.patrol": "巡查区", "area.no_fly": "禁飞区", "area.controlled": "管制空域", "area.depot": "车场",
  "level.green": "正常", "level.yellow": "黄色", "level.red": "红色", "level.offline": "离线", "level.fault": "故障", "gauge.offline": "离线", "gauge.fault": "故障",
  "incidents.title": "事件处置", "schedules.title": "定时巡查", "gauges.title": "积水监测点", "alerts.title": "当前告警",
  "drones.title": "无人机", "planner.title": "航线规划", "toilets.title": "公共厕所", "toilets.sub": "今日每小时进入人次",
  "compliance.title": "环卫作业考核",
  "th.gauge": "监测点", "th.road": "道路", "th.level": "等级", "th.depth": "水深 cm", "th.rise": "涨幅 cm/10 分钟", "th.since": "起始",
  "th.drone": "无人机", "th.online": "在线", "th.autopilot": "飞控", "th.mode": "模式", "th.armed": "解锁", "th.position": "定位",
  "th.battery": "电量", "th.altitude": "高度", "th.mission": "任务", "th.vehicle": "车辆", "th.route": "路线", "th.coverage": "覆盖率",
  "th.passes": "有效/计划趟数", "th.overspeed": "超速", "th.offroute": "偏离路线 s", "th.gap": "数据中断 s", "th.missed": "漏扫路段",
  "th.stops": "收集点", "th.compliant": "达标", "th.incident": "事件", "th.kind": "类型", "th.reason": "原因", "th.state": "状态",
  "th.officer": "处置人员", "th.timer": "计时", "th.schedule": "计划", "th.drones": "无人机", "th.recurrence": "周期",
  "th.next": "下次执行", "th.start": "启动", "th.last": "上次执行", "th.track": "轨迹",
  "online": "在线", "offline": "离线", "armed": "已解锁", "disarmed": "未解锁", "nofix": "无定位", "position": "已定位",
  "ack": "确认", "acked": "已确认 {user}", "dispatch": "派单", "alert": "告警",
  "plan.drone": "无人机", "plan.type": "类型", "plan.hotspots": "积水热点", "plan.survey": "区域测绘", "plan.points": "航点（点击地图）",
  "plan.minlevel": "最低等级", "plan.area": "区域", "plan.drawn": "地图上绘制的区域", "plan.draw": "绘制区域", "plan.drawhint": "在地图上依次点击顶点，再点第一个顶点闭合；拖动顶点可修改。",
  "plan.points.count": "航点：", "plan.clear": "清除", "plan.alt": "离地高度 (m)", "plan.speed": "速度 (m/s)", "plan.loiter": "每点悬停 (s)",
  "plan.button": "规划", "plan.pickarea": "请选择或绘制一个区域。", "plan.pickpoints": "请先点击地图添加航点。", "plan.planned": "已规划 {id}。",
  "mission.title": "任务", "mission.waypoints": "个航点", "mission.state": "状态", "approval.id": "空域批准编号", "approval.placeholder": "例如 UOM-2026-0412",
  "approval.record": "登记批准", "upload.to": "上传到", "upload.thedrone": "无人机", "launch": "起飞", "profile.title": "地形剖面",
  "check.height": "最大真高 {h} m（限 {limit} m）· {terrain}", "check.nofly": "穿越禁飞区：{list}", "check.nofly.ok": "未穿越禁飞区",
  "check.battery": "约 {min} 分钟飞行，返航时剩余电量 {pct} %", "check.approval": "需要空域批准：{reasons}", "check.approval.recorded": " · 已登记 {id}",
  "check.approval.none": "无需空域批准", "msg.approved": "已登记批准 {id}。", "msg.nodrone": "没有在线的无人机。", "msg.uploading": "正在上传到 D{d}…",
  "msg.uploaded": "已上传 {n} 个航点到 D{d}，回读校验一致（verified）。", "msg.uploadfailed": "上传失败：{error}", "msg.launched": "已起飞 {id}（Launched）。",
  "progress": "D{d}：第 {current} / {total} 项 · {state}", "state.planned": "已规划", "state.uploaded": "已上传", "state.verified": "已校验",
  "state.running": "执行中", "state.done": "已完成", "state.failed": "失败",
  "toilet.entries": "{n} 人次 · 保洁 {c} 次 · 空气超标 {a} 次 · ", "toilet.overdue": "保洁超时", "toilet.clean": "已保洁",
  "compliance.date": "日期", "compliance.show": "查询", "compliance.summary": "{ok} / {n} 达标", "yes": "是", "no": "否", "track.show": "回放",
  "chart.close": "关闭", "chart.gauge": "{id} 近 24 小时水深", "chart.toilet": "{id} 今日每小时人次", "chart.incidents": "今日事件", "chart.depth": "水深 cm",
  "chart.yellow": "黄色阈值", "chart.red": "红色阈值", "chart.alerts": "告警", "chart.entries": "人次", "chart.cleanings": "保洁",
  "chart.ground": "地面", "chart.flight": "飞行高度", "chart.distance": "距离 m", "chart.count": "事件数",
  "track.title": "{v} {date} 轨迹回放", "track.covered": "已覆盖", "track.missed": "漏扫", "track.overspeed": "超速", "track.none": "当天没有轨迹。",
  "incident.send": "派 {name}（{min} 分钟）", "incident.close": "结案", "incident.onscene": "{t} 到场", "incident.measures": "今日：{n} 起 · {target} 分钟内到场 {share} · 到场 p50 {p50}，p90 {p90} · 处置 p50 {r50}",
  "istate.open": "待派", "istate.assigned": "已派", "istate.accepted": "已接", "istate.on_scene": "到场", "istate.resolved": "已处置", "istate.closed": "已结案",
  "schedule.delete": "删除", "schedule.confirm": "删除计划 {id}？", "schedule.every": "每 {h} 小时", "schedule.weekly": "每周 {days} {time}",
  "schedule.storm": "暴雨时每 {h} 小时", "schedule.any": "任意", "schedule.launch": "自动起飞", "schedule.pilot": "飞手确认", "schedule.launched": "已起飞",
  "mode.label": "防汛响应", "mode.none": "常态", "mode.IV": "IV 级（蓝）", "mode.III": "III 级（黄）", "mode.II": "II 级（橙）", "mode.I": "I 级（红）",
  "mode.leave": "解除防汛响应？", "mode.set": "启动防汛响应 {level}？", "mode.gauges": " · {acked}/{n} 个监测点按 {s} s 上报", "mode.nolevel": "未启动防汛响应",
  "mode.title": "自 {since} 由 {by} 启动 · 红色 ≥ {red} cm，黄色 ≥ {yellow} cm，{off} s 无数据为离线 · 监测点每 {s} s：{acked}/{n} 已确认",
};

const en = {
  "app.title": "City telemetry", "app.sub": "Haishu", "lang.switch": "Language", "live.on": "live", "live.off": "offline", "live.retry": "reconnecting",
  "live.title": "live updates", "logout": "Log out", "login.title": "Log in", "login.token": "API token", "login.button": "Log in",
  "login.hint": "The token decides what you can do: viewers read, managers acknowledge alerts, pilots plan and launch missions. `telemetry demo` prints its tokens.",
  "login.unknown": "Unknown token.", "login.failed": "Login failed: {status}", "login.rejected": "Your token was not accepted.",
  "map.title": "Map", "map.label": "map of gauges, routes, vehicles, drones and areas", "map.stop": "stop", "map.toilet": "toilet",
  "map.hint": "wheel: zoom · drag: pan", "legend.gauge": "gauge green", "legend.yellow": "yellow", "legend.red": "red",
  "legend.route": "sanitation route", "legend.vehicle": "vehicle", "legend.toilet": "toilet", "legend.drone": "drone", "legend.officer": "officer",
  "legend.incident": "incident", "legend.patrol": "patrol area", "legend.no_fly": "no-fly", "legend.controlled": "controlled airspace",
  "area.patrol": "patrol", "area.no_fly": "no-fly", "area.controlled": "controlled", "area.depot": "depot",
  "level.green": "green", "level.yellow": "yellow", "level.red": "red", "level.offline": "offline", "level.fault": "fault", "gauge.offline": "offline", "gauge.fault": "fault",
  "incidents.title": "Incidents", "schedules.title": "Scheduled patrols", "gauges.title": "Waterlogging gauges", "alerts.title": "Active alerts",
  "drones.title": "Drones", "planner.title": "Mission planner", "toilets.title": "Public toilets", "toilets.sub": "entries per hour today",
  "compliance.title": "Sanitation compliance",
  "th.gauge": "gauge", "th.road": "road", "th.level": "level", "th.depth": "depth cm", "th.rise": "rise cm/10 min", "th.since": "since",
  "th.drone": "drone", "th.online": "online", "th.autopilot": "autopilot", "th.mode": "mode", "th.armed": "armed", "th.position": "position",
  "th.battery": "battery", "th.altitude": "altitude", "th.mission": "mission", "th.vehicle": "vehicle", "th.route": "route", "th.coverage": "coverage",
  "th.passes": "valid / planned passes", "th.overspeed": "overspeed", "th.offroute": "off route s", "th.gap": "gap s", "th.missed": "missed segments",
  "th.stops": "stops", "th.compliant": "compliant", "th.incident": "incident", "th.kind": "kind", "th.reason": "reason", "th.state": "state",
  "th.officer": "officer", "th.timer": "timer", "th.schedule": "schedule", "th.drones": "drones", "th.recurrence": "recurrence",
  "th.next": "next runs", "th.start": "start", "th.last": "last run", "th.track": "track",
  "online": "online", "offline": "offline", "armed": "armed", "disarmed": "disarmed", "nofix": "no fix", "position": "position",
  "ack": "Acknowledge", "acked": "ack {user}", "dispatch": "Dispatch", "alert": "alert",
  "plan.drone": "Drone", "plan.type": "Type", "plan.hotspots": "flood hotspots", "plan.survey": "survey an area", "plan.points": "points (click the map)",
  "plan.minlevel": "Minimum level", "plan.area": "Area", "plan.drawn": "area drawn on the map", "plan.draw": "Draw area", "plan.drawhint": "Click the corners on the map, then the first one again to close; drag a corner to edit.",
  "plan.points.count": "points:", "plan.clear": "clear", "plan.alt": "Height above ground (m)", "plan.speed": "Speed (m/s)", "plan.loiter": "Hover at each point (s)",
  "plan.button": "Plan", "plan.pickarea": "Pick or draw an area.", "plan.pickpoints": "Click the map to add points first.", "plan.planned": "Planned {id}.",
  "mission.title": "Mission", "mission.waypoints": "waypoints", "mission.state": "state", "approval.id": "Airspace approval id", "approval.placeholder": "e.g. UOM-2026-0412",
  "approval.record": "Record approval", "upload.to": "Upload to", "upload.thedrone": "the drone", "launch": "Launch", "profile.title": "Terrain profile",
  "check.height": "true height up to {h} m (limit {limit} m) · {terrain}", "check.nofly": "no-fly: {list}", "check.nofly.ok": "no no-fly area crossed",
  "check.battery": "about {min} min of flight, {pct} % battery left", "check.approval": "approval needed: {reasons}", "check.approval.recorded": " · recorded {id}",
  "check.approval.none": "no approval needed", "msg.approved": "Approval {id} recorded.", "msg.nodrone": "No drone online.", "msg.uploading": "Uploading to D{d}…",
  "msg.uploaded": "Uploaded {n} items to D{d}, read back and verified.", "msg.uploadfailed": "Upload failed: {error}", "msg.launched": "Launched {id}.",
  "progress": "D{d}: item {current} of {total} · {state}", "state.planned": "planned", "state.uploaded": "uploaded", "state.verified": "verified",
  "state.running": "running", "state.done": "done", "state.failed": "failed",
  "toilet.entries": "{n} entries · cleaned {c}× · air exceedances {a} · ", "toilet.overdue": "cleaning overdue", "toilet.clean": "clean",
  "compliance.date": "Date", "compliance.show": "Show", "compliance.summary": "{ok} of {n} compliant", "yes": "yes", "no": "no", "track.show": "replay",
  "chart.close": "Close", "chart.gauge": "{id}: depth over 24 h", "chart.toilet": "{id}: entries per hour today", "chart.incidents": "Today's incidents", "chart.depth": "depth cm",
  "chart.yellow": "yellow threshold", "chart.red": "red threshold", "chart.alerts": "alerts", "chart.entries": "entries", "chart.cleanings": "cleanings",
  "chart.ground": "ground", "chart.flight": "flight", "chart.distance": "distance m", "chart.count": "incidents",
  "track.title": "{v} on {date}", "track.covered": "covered", "track.missed": "missed", "track.overspeed": "overspeed", "track.none": "No track that day.",
  "incident.send": "Send {name} ({min} min)", "incident.close": "Close", "incident.onscene": "on scene in {t}", "incident.measures": "today: {n} incidents · on scene within {target} min: {share} · on scene p50 {p50}, p90 {p90} · resolved p50 {r50}",
  "istate.open": "open", "istate.assigned": "assigned", "istate.accepted": "accepted", "istate.on_scene": "on scene", "istate.resolved": "resolved", "istate.closed": "closed",
  "schedule.delete": "Delete", "schedule.confirm": "Delete schedule {id}?", "schedule.every": "every {h} h", "schedule.weekly": "weekly {days} {time}",
  "schedule.storm": "storm: every {h} h", "schedule.any": "any", "schedule.launch": "launch", "schedule.pilot": "pilot", "schedule.launched": "launched",
  "mode.label": "Flood response", "mode.none": "normal", "mode.IV": "IV (blue)", "mode.III": "III (yellow)", "mode.II": "II (orange)", "mode.I": "I (red)",
  "mode.leave": "Leave the flood response level?", "mode.set": "Set flood response level {level}?", "mode.gauges": " · {acked}/{n} gauges at {s} s", "mode.nolevel": "no flood response level in force",
  "mode.title": "since {since} by {by} · red ≥ {red} cm, yellow ≥ {yellow} cm, offline after {off} s · gauges every {s} s: {acked}/{n} acknowledged",
};

export const CATALOGUES = { "zh-CN": zh, en };
const KEY = "telemetry-lang";

function initial() {
  const chosen = localStorage.getItem(KEY);
  if (chosen && CATALOGUES[chosen]) return chosen;
  return (navigator.language || "zh-CN").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

export let lang = initial();

/** The message `key` in the page's language, `{name}` filled from `vars`. */
export function t(key, vars = {}) {
  const text = CATALOGUES[lang][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (vars[name] === undefined ? m : String(vars[name])));
}

/** A level's name (flood levels, alert levels); an unknown one as it came. */
export const level = (name) => (CATALOGUES[lang][`level.${name}`] ?? en[`level.${name}`] ?? name);

/** Numbers and dates formatted for the language; times in the site's zone. */
export const number = (v, digits = 1) => new Intl.NumberFormat(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
export const clock = (date, timeZone) => new Intl.DateTimeFormat(lang, { timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(date);
export const dateTime = (date, timeZone) => new Intl.DateTimeFormat(lang, { timeZone, dateStyle: "medium", timeStyle: "short", hourCycle: "h23" }).format(date);

/** Translate the static page: text, titles, placeholders, aria labels. */
export function translatePage(root = document) {
  document.documentElement.lang = lang;
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of root.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  document.title = `${t("app.title")} · ${t("app.sub")}`;
}

/** Switch language: remembered, and the page reloads (every view is rebuilt in it). */
export function choose(next) {
  if (!CATALOGUES[next]) return;
  localStorage.setItem(KEY, next);
  location.reload();
}

// The map (issue 21): Leaflet (vendor/leaflet, a global `L`) with the configured basemap, or a
// plain background without one; the registry's layers, gauges by level, vehicles, drones and the
// missions they fly, the planner's points and drawn area (geoman), and other modules' overlays.
// Every feature is WGS84 in the API; on a GCJ-02 basemap it is shifted for display, and every
// click, dragged point or drawn vertex is shifted back before it reaches the API (datum.js).

import { datumOf } from "./datum.js";

const L = window.L;

/** Set attributes (data-id, data-level...) on a vector layer's or marker's element once added. */
export function tag(layer, attrs) {
  const apply = () => {
    const node = layer.getElement?.();
    if (node) for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  };
  layer.on("add", apply);
  if (layer._map) apply();
  return layer;
}

function setClass(layer, cls) {
  const node = layer.getElement?.();
  if (node && node.getAttribute("class") !== `${cls} leaflet-interactive`) node.setAttribute("class", `${cls} leaflet-interactive`);
  layer.options.className = cls;
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A keyed layer: features are updated in place (a click never lands on a replaced node). */
function keyed(group, make) {
  const items = new Map();
  return (list) => {
    const seen = new Set();
    for (const f of list) {
      seen.add(f.id);
      let layer = items.get(f.id);
      if (!layer) { layer = make(f); tag(layer, f.attrs); items.set(f.id, layer); group.addLayer(layer); }
      else {
        layer.setLatLng(f.latlng);
        setClass(layer, f.cls);
        const node = layer.getElement?.();
        if (node) for (const [k, v] of Object.entries(f.attrs)) node.setAttribute(k, String(v));
      }
      if (!f.label) layer.setTooltipContent?.(f.title);
    }
    for (const [id, layer] of items) if (!seen.has(id)) { group.removeLayer(layer); items.delete(id); }
  };
}

/**
 * ctx: { state, fmt, time, overlays, t, onPointsChanged(), onAreaChanged(), onGauge(id) }.
 * Answers { draw(), fit(), toDisplay, toWgs84, leaflet, drawArea(), clearArea(), areaGeometry() }.
 */
export function createMap(node, ctx) {
  const cfg = ctx.state.me.map || { tiles: "", subdomains: "", attribution: "", datum: "wgs84" };
  const { toDisplay, toWgs84 } = datumOf(cfg.datum);
  const renderer = L.svg({ padding: 0.5 });
  const map = L.map(node, { renderer, zoomSnap: 0.25, attributionControl: false, preferCanvas: false });
  if (cfg.tiles) {
    L.tileLayer(cfg.tiles, { subdomains: cfg.subdomains || "abc", maxZoom: 19, className: "basemap" }).addTo(map);
    if (cfg.attribution) L.control.attribution({ prefix: false }).addAttribution(esc(cfg.attribution)).addTo(map);
  } else node.classList.add("no-basemap");
  L.control.scale({ imperial: false }).addTo(map);
  const layers = {
    areas: L.layerGroup().addTo(map), routes: L.layerGroup().addTo(map), statics: L.layerGroup().addTo(map),
    missions: L.layerGroup().addTo(map), live: L.layerGroup().addTo(map), overlays: L.layerGroup().addTo(map),
    picks: L.layerGroup().addTo(map),
  };
  const ll = (c) => toDisplay(c);
  const label = { permanent: true, direction: "right", offset: [8, 0], className: "map-label" };
  const marker = (r) => (f) => {
    const m = L.circleMarker(f.latlng, { radius: r, className: f.cls, renderer });
    if (f.label) m.bindTooltip(f.label, label); else m.bindTooltip(f.title);
    if (f.onclick) m.on("click", f.onclick);
    return m;
  };
  const gauges = keyed(layers.live, marker(7));
  const vehicles = keyed(layers.live, marker(4));
  const drones = keyed(layers.live, marker(7));

  function drawStatics() {
    const { state, t } = ctx;
    for (const f of state.layers.areas.features) {
      const rings = (f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates).map((p) => p.map((r) => r.map(ll)));
      tag(L.polygon(rings, { className: `area ${f.properties.kind}`, renderer, interactive: true })
        .bindTooltip(`${f.properties.id} (${t(`area.${f.properties.kind}`)})`), { "data-id": f.properties.id }).addTo(layers.areas);
    }
    for (const f of state.layers.routes.features) {
      const lines = f.geometry.type === "LineString" ? [f.geometry.coordinates] : f.geometry.coordinates;
      tag(L.polyline(lines.map((l) => l.map(ll)), { className: "route", renderer })
        .bindTooltip(`${f.properties.id} ${f.properties.name || ""}`), { "data-id": f.properties.id }).addTo(layers.routes);
    }
    for (const f of state.layers.stops.features) {
      L.circleMarker(ll(f.geometry.coordinates), { radius: 3, className: "stop", renderer }).bindTooltip(`${t("map.stop")} ${f.properties.id}`).addTo(layers.statics);
    }
    for (const f of state.layers.toilets.features) {
      const m = L.marker(ll(f.geometry.coordinates), { icon: L.divIcon({ className: "toilet-icon", iconSize: [9, 9] }), keyboard: false });
      tag(m.bindTooltip(`${t("map.toilet")} ${f.properties.id} ${f.properties.name || ""}`), { "data-id": f.properties.id }).addTo(layers.statics);
      m.on("click", () => ctx.onToilet?.(f.properties.id));
    }
  }

  function fit() {
    const pts = [];
    const walk = (c) => (typeof c[0] === "number" ? pts.push(ll(c)) : c.forEach(walk));
    for (const name of ["gauges", "routes", "toilets"]) {
      for (const f of ctx.state.layers[name].features) if (f.geometry) walk(f.geometry.coordinates);
    }
    if (pts.length) map.fitBounds(L.latLngBounds(pts), { padding: [24, 24] });
    else map.setView([29.87, 121.55], 13);
  }

  function drawMissions() {
    const { state } = ctx;
    layers.missions.clearLayers();
    const previews = new Map(state.missionPreviews);
    if (state.mission) previews.set(state.mission.id, state.mission);
    for (const m of previews.values()) {
      const wps = m.waypoints.filter((w) => w.lat || w.lon);
      if (!wps.length) continue;
      tag(L.polyline(wps.map((w) => ll([w.lon, w.lat])), { className: "mission-path", renderer, interactive: false }), { "data-id": m.id }).addTo(layers.missions);
      for (const w of wps) {
        // not interactive: a hotspot's waypoint lies on its gauge, whose click opens its chart
        L.circleMarker(ll([w.lon, w.lat]), { radius: 2.5, className: "waypoint", renderer, interactive: false }).addTo(layers.missions);
      }
    }
  }

  let missionKey = "";
  function draw() {
    const { state, fmt, time, t } = ctx;
    if (!state.layers) return;
    gauges((state.gauges || state.layers.gauges).features.filter((f) => f.geometry).map((f) => {
      const p = f.properties;
      const level = p.level || "green";
      return {
        id: p.id, latlng: ll(f.geometry.coordinates), cls: `gauge level-${level}${p.offline ? " offline" : ""}`, label: p.id,
        attrs: { "data-id": p.id, "data-level": level }, onclick: () => ctx.onGauge?.(p.id),
        title: `${p.id} ${p.name || ""}: ${ctx.level(level)}${p.offline ? ` (${t("gauge.offline")})` : ""}${p.depth_cm != null ? `, ${fmt(p.depth_cm)} cm` : ""}`,
      };
    }));
    vehicles(state.vehicles.filter((v) => v.lat != null && v.lon != null).map((v) => ({
      id: v.id, latlng: ll([v.lon, v.lat]), cls: "vehicle", attrs: { "data-id": v.id },
      title: `${v.id} ${fmt(v.speed_kmh)} km/h · ${time(v.time)}`,
    })));
    drones(state.drones.filter((d) => d.lat != null && d.lon != null).map((d) => ({
      id: d.drone, latlng: ll([d.lon, d.lat]), cls: `drone${d.online ? "" : " offline"}`, label: `D${d.drone}`,
      attrs: { "data-id": d.drone }, title: `D${d.drone} ${d.mode || ""} ${fmt(d.alt_rel_m)} m`,
    })));
    const key = JSON.stringify([state.mission?.id, state.mission?.waypoints.length, state.mission?.planned_at_ms, [...state.missionPreviews.keys()], [...state.missionPreviews.values()].map((m) => m.waypoints.length)]);
    if (key !== missionKey) { missionKey = key; drawMissions(); }
    layers.overlays.clearLayers();
    for (const overlay of ctx.overlays) overlay(layers.overlays, { L, toDisplay, renderer, tag });
  }

  // ------------------------------------------------------------ planner: points and a drawn area
  function drawPicks() {
    layers.picks.clearLayers();
    ctx.state.points.forEach((p, i) => {
      const m = L.marker(ll(p), { draggable: true, icon: L.divIcon({ className: "pick", iconSize: [12, 12] }), title: `#${i + 1}` });
      m.on("dragend", () => { const at = m.getLatLng(); ctx.state.points[i] = toWgs84([at.lat, at.lng]); ctx.onPointsChanged?.(); });
      tag(m, { "data-index": i }).addTo(layers.picks);
    });
  }
  map.on("click", (e) => {
    if (ctx.pickingPoints?.() && !map.pm?.globalDrawModeEnabled()) {
      ctx.state.points.push(toWgs84([e.latlng.lat, e.latlng.lng]));
      drawPicks();
      ctx.onPointsChanged?.();
    }
  });
  let area = null;
  map.on("pm:create", (e) => {
    if (area) map.removeLayer(area);
    area = e.layer;
    tag(area, { id: "drawn-area" });
    area.pm.enable({ allowSelfIntersection: false });
    area.on("pm:edit", () => ctx.onAreaChanged?.());
    ctx.onAreaChanged?.();
  });
  function areaGeometry() {
    if (!area) return null;
    const ring = area.getLatLngs()[0].map((p) => toWgs84([p.lat, p.lng]));
    ring.push(ring[0]);
    return { type: "Polygon", coordinates: [ring] };
  }
  function drawArea() {
    map.pm.setGlobalOptions({ snappable: false });
    map.pm.enableDraw("Polygon", { snappable: false, finishOn: null, allowSelfIntersection: false });
  }
  function clearArea() { if (area) map.removeLayer(area); area = null; map.pm.disableDraw(); }

  drawStatics();
  fit();
  draw();
  return { draw, fit, drawPicks, drawArea, clearArea, areaGeometry, toDisplay, toWgs84, leaflet: map, layers, renderer };
}

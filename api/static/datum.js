// WGS84 <-> GCJ-02 for the map (a port of telemetry/geo.py, tested against it in
// tests/test_map_page.py). GCJ-02 is the obfuscated datum of AMap-style basemaps: on such tiles
// every feature is shifted to GCJ-02 for display and every click shifted back to WGS84.

const A = 6378245.0; // Krasovsky 1940 semi-major axis used by the GCJ-02 formula
const EE = 0.00669342162296594323; // its first eccentricity squared

const inChina = (lat, lon) => lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;

function dLat(x, y) {
  let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320.0 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return r;
}

function dLon(x, y) {
  let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return r;
}

/** WGS84 (lat, lon) to GCJ-02 [lat, lon]: the public forward formula. */
export function wgs84ToGcj02(lat, lon) {
  if (!inChina(lat, lon)) return [lat, lon];
  let dlat = dLat(lon - 105.0, lat - 35.0);
  let dlon = dLon(lon - 105.0, lat - 35.0);
  const rad = (lat / 180.0) * Math.PI;
  const magic = 1.0 - EE * Math.sin(rad) ** 2;
  const sqrtMagic = Math.sqrt(magic);
  dlat = (dlat * 180.0) / (((A * (1.0 - EE)) / (magic * sqrtMagic)) * Math.PI);
  dlon = (dlon * 180.0) / ((A / sqrtMagic) * Math.cos(rad) * Math.PI);
  return [lat + dlat, lon + dlon];
}

/** GCJ-02 (lat, lon) to WGS84 [lat, lon] by fixed-point iteration (to ~1e-9 degrees). */
export function gcj02ToWgs84(lat, lon) {
  let wlat = lat, wlon = lon;
  for (let i = 0; i < 30; i++) {
    const [glat, glon] = wgs84ToGcj02(wlat, wlon);
    const dlat = glat - lat, dlon = glon - lon;
    wlat -= dlat;
    wlon -= dlon;
    if (Math.abs(dlat) < 1e-10 && Math.abs(dlon) < 1e-10) break;
  }
  return [wlat, wlon];
}

/** The two conversions of a basemap drawn in `datum`: GeoJSON [lon, lat] (WGS84) to a display
 * [lat, lon], and a display [lat, lon] back to WGS84 [lon, lat]. */
export function datumOf(datum) {
  if (datum === "gcj02") {
    return {
      toDisplay: ([lon, lat]) => wgs84ToGcj02(lat, lon),
      toWgs84: ([lat, lon]) => { const [a, b] = gcj02ToWgs84(lat, lon); return [b, a]; },
    };
  }
  return { toDisplay: ([lon, lat]) => [lat, lon], toWgs84: ([lat, lon]) => [lon, lat] };
}

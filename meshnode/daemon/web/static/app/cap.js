// The compact CAP alert (docs/protocol.md §6.4) and the certificate scope geometry (§6.6), as
// the browser node reads them: `readCap` decodes and checks every rule of §6.4 and throws
// WireError (the verdict `malformed`) on any break; `areaWithin` and `covers` are §6.6. The
// reference is meshnode/alerts/{compact,model,area}.py; tests/web/js/vectors.mjs runs the
// protocol's `cap` and `geometry` vectors through this module.

import { WireError, decode, utf8 } from './msgpack.js';

const TIME_MAX = 253402300799 - 14 * 3600;
const TZ_MAX = 14 * 60;
const LAT_MAX = 900000000;
const LON_MAX = 1800000000;
const RADIUS_MAX = 20038000;
const ALTITUDE_MAX = 10000000000;
const TEXT_MAX_CHARS = 1395;
const MAX_ITEMS = 128; // the longest array: one flat polygon of 64 points
export const MAX_CAP = 4096;

// Python's str.isspace() set (what the reference strips and calls white space); the control
// characters among them are refused anyway.
const WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const EDGE_WS = new RegExp(`^[${WS}]|[${WS}]$`);
const ANY_WS = new RegExp(`[${WS}]`);
const ID_FORBIDDEN = new RegExp(`[${WS},<&]`);
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const LANGUAGE = /^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$/;

const fail = (where, rule) => { throw new WireError(`${where}: ${rule}`); };

export const isInt = (v) => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';

/** An integer within lo..hi (BigInt-safe), returned as a Number when it is one. */
export function int(v, where, lo, hi) {
  if (!isInt(v)) fail(where, 'expected an integer');
  if (BigInt(v) < BigInt(lo) || BigInt(v) > BigInt(hi)) fail(where, `outside ${lo}..${hi}`);
  return v;
}

/** §1 text: UTF-8 bytes within lo..hi, no control character but tab and newline. */
export function text(v, where, lo, hi) {
  if (typeof v !== 'string') fail(where, 'expected text');
  const n = utf8(v).length;
  if (n < lo || n > hi) fail(where, `${n} UTF-8 bytes, allowed ${lo}..${hi}`);
  if (CONTROL.test(v)) fail(where, 'control character');
  return v;
}

// CAP text (§6.4): also no white space at either end and no U+FFFE/U+FFFF.
function capText(v, where, hi, lo = 1) {
  text(v, where, lo, hi);
  if (EDGE_WS.test(v)) fail(where, 'leading or trailing white space');
  if (/[\ufffe\uffff]/.test(v)) fail(where, 'U+FFFE or U+FFFF');
  return v;
}

function ident(v, where) {
  capText(v, where, 256);
  if (ID_FORBIDDEN.test(v)) fail(where, "white space, ',', '<' or '&'");
  return v;
}

/** A map of integer keys, all among `allowed` (1..n). */
export function fields(v, where, n) {
  if (!(v instanceof Map)) fail(where, 'expected a map');
  for (const k of v.keys()) if (!(Number.isInteger(k) && k >= 1 && k <= n)) fail(where, `key ${k}`);
  return v;
}

/** A list of lo..hi items, or null when the key is absent (present means non-empty here:
 *  an empty list is never written, §6.4). */
export function list(m, k, where, hi, { lo = 1, required = false } = {}) {
  if (!m.has(k)) {
    if (required) fail(where, 'missing');
    return null;
  }
  const v = m.get(k);
  if (!Array.isArray(v)) fail(where, 'expected an array');
  if (v.length < lo || v.length > hi) fail(where, `${v.length} items, allowed ${lo}..${hi}`);
  return v;
}

function need(m, k, where) {
  if (!m.has(k)) fail(where, 'missing');
  return m.get(k);
}

function optText(m, k, where, hi) { return m.has(k) ? capText(m.get(k), where, hi) : null; }

const enumOf = (v, where, lo, hi) => Number(int(v, where, lo, hi));

// A time with its UTC offset: the offset is written only when not 0, and only with its time.
function time(m, k, tzk, where, required) {
  const t = m.has(k) ? Number(int(m.get(k), where, 0, TIME_MAX)) : null;
  if (t === null && required) fail(where, 'missing');
  if (m.has(tzk)) {
    const tz = Number(int(m.get(tzk), `${where}_tz`, -TZ_MAX, TZ_MAX));
    if (tz === 0) fail(`${where}_tz`, 'an offset of 0 is omitted');
    if (t === null) fail(`${where}_tz`, 'set without a time');
  }
  return t;
}

function pairs(m, k, where, hi, valueMax) {
  return (list(m, k, where, hi) || []).map((p, i) => {
    if (!Array.isArray(p) || p.length !== 2) fail(`${where}[${i}]`, 'expected a pair');
    return [capText(p[0], `${where}[${i}].valueName`, 256), capText(p[1], `${where}[${i}].value`, valueMax, 0)];
  });
}

/** Decode and check a compact CAP alert (§6.4); WireError if it breaks any rule. */
export function readCap(data) {
  if (data.length > MAX_CAP) fail('alert', 'larger than 4,096 bytes');
  const m = fields(decode(data, { maxItems: MAX_ITEMS }), 'alert', 15);
  const alert = {
    identifier: ident(need(m, 1, 'alert.identifier'), 'alert.identifier'),
    sender: ident(need(m, 2, 'alert.sender'), 'alert.sender'),
    sent: time(m, 3, 4, 'alert.sent', true),
    status: enumOf(need(m, 5, 'alert.status'), 'alert.status', 1, 5),
    msgType: enumOf(need(m, 6, 'alert.msg_type'), 'alert.msg_type', 1, 5),
    source: optText(m, 7, 'alert.source', 256),
    scope: enumOf(need(m, 8, 'alert.scope'), 'alert.scope', 1, 3),
    restriction: optText(m, 9, 'alert.restriction', 1024),
    addresses: optText(m, 10, 'alert.addresses', 1024),
    codes: (list(m, 11, 'alert.codes', 8) || []).map((c, i) => capText(c, `alert.codes[${i}]`, 256)),
    note: optText(m, 12, 'alert.note', 1024),
    references: (list(m, 13, 'alert.references', 16) || []).map((r, i) => readReference(r, i)),
    incidents: optText(m, 14, 'alert.incidents', 1024),
    infos: (list(m, 15, 'alert.infos', 4) || []).map((x, i) => readInfo(x, `alert.info[${i}]`)),
  };
  if (!alert.infos.length && alert.msgType <= 2) fail('alert.infos', 'an Alert or Update needs an info');
  const expiries = alert.infos.map((i) => i.expires);
  alert.expires = expiries.length ? Math.max(...expiries) : null;
  alert.maxSeverity = alert.infos.length ? Math.max(...alert.infos.map((i) => i.severity)) : null;
  return alert;
}

function readReference(r, i) {
  const where = `alert.references[${i}]`;
  if (!Array.isArray(r) || r.length !== 4) fail(where, 'expected [sender, identifier, sent, sent_tz]');
  return { sender: ident(r[0], `${where}.sender`), identifier: ident(r[1], `${where}.identifier`),
    sent: Number(int(r[2], `${where}.sent`, 0, TIME_MAX)),
    sentTz: Number(int(r[3], `${where}.sent_tz`, -TZ_MAX, TZ_MAX)) };
}

function readInfo(v, at) {
  const m = fields(v, at, 23);
  const language = capText(need(m, 1, `${at}.language`), `${at}.language`, 35);
  if (!LANGUAGE.test(language)) fail(`${at}.language`, 'not a language tag');
  const info = {
    language,
    categories: list(m, 2, `${at}.categories`, 12, { required: true })
      .map((c, i) => enumOf(c, `${at}.categories[${i}]`, 1, 12)),
    event: capText(need(m, 3, `${at}.event`), `${at}.event`, 256),
    responseTypes: (list(m, 4, `${at}.response_types`, 9) || [])
      .map((c, i) => enumOf(c, `${at}.response_types[${i}]`, 1, 9)),
    urgency: enumOf(need(m, 5, `${at}.urgency`), `${at}.urgency`, 0, 4),
    severity: enumOf(need(m, 6, `${at}.severity`), `${at}.severity`, 0, 4),
    certainty: enumOf(need(m, 7, `${at}.certainty`), `${at}.certainty`, 0, 4),
    audience: optText(m, 8, `${at}.audience`, 256),
    eventCodes: pairs(m, 9, `${at}.event_codes`, 16, 1024),
    effective: time(m, 10, 11, `${at}.effective`, false),
    onset: time(m, 12, 13, `${at}.onset`, false),
    expires: time(m, 14, 15, `${at}.expires`, true),
    senderName: optText(m, 16, `${at}.sender_name`, 256),
    headline: optText(m, 17, `${at}.headline`, 4 * TEXT_MAX_CHARS),
    description: optText(m, 18, `${at}.description`, 4 * TEXT_MAX_CHARS),
    instruction: optText(m, 19, `${at}.instruction`, 4 * TEXT_MAX_CHARS),
    web: optText(m, 20, `${at}.web`, 1024),
    contact: optText(m, 21, `${at}.contact`, 256),
    parameters: pairs(m, 22, `${at}.parameters`, 48, 1024),
    areas: (list(m, 23, `${at}.areas`, 8) || []).map((a, j) => readArea(a, `${at}.area[${j}]`)),
  };
  // Code points, not UTF-16 units (§6.4).
  const chars = [info.headline, info.description, info.instruction]
    .reduce((n, s) => n + (s ? [...s].length : 0), 0);
  if (chars > TEXT_MAX_CHARS) fail(`${at}.text`, `${chars} characters, exceeds ${TEXT_MAX_CHARS}`);
  if (info.web !== null && ANY_WS.test(info.web)) fail(`${at}.web`, 'a URI has no white space');
  return info;
}

function readArea(v, at) {
  const m = fields(v, at, 6);
  const area = {
    areaDesc: capText(need(m, 1, `${at}.area_desc`), `${at}.area_desc`, 1024),
    polygons: (list(m, 2, `${at}.polygons`, 4) || []).map((r, k) => readRing(r, `${at}.polygon[${k}]`)),
    circles: (list(m, 3, `${at}.circles`, 4) || []).map((c, k) => {
      const where = `${at}.circle[${k}]`;
      if (!Array.isArray(c) || c.length !== 3) fail(where, 'expected [lat, lon, radius]');
      return [Number(int(c[0], `${where}.lat`, -LAT_MAX, LAT_MAX)),
        Number(int(c[1], `${where}.lon`, -LON_MAX, LON_MAX)),
        Number(int(c[2], `${where}.radius`, 0, RADIUS_MAX))];
    }),
    geocodes: pairs(m, 4, `${at}.geocodes`, 32, 256),
    altitude: m.has(5) ? int(m.get(5), `${at}.altitude`, -ALTITUDE_MAX, ALTITUDE_MAX) : null,
    ceiling: m.has(6) ? int(m.get(6), `${at}.ceiling`, -ALTITUDE_MAX, ALTITUDE_MAX) : null,
  };
  if (area.ceiling !== null && area.altitude === null) fail(`${at}.ceiling`, 'needs an altitude');
  return area;
}

/** A flat [lat0, lon0, lat1, lon1, ...] ring of 3..maxPoints points: [[lat, lon], ...]. */
export function readRing(flat, where, maxPoints = 64) {
  if (!Array.isArray(flat) || flat.length % 2 || flat.length / 2 < 3 || flat.length / 2 > maxPoints) {
    fail(where, `expected 3..${maxPoints} latitude, longitude pairs`);
  }
  const ring = [];
  for (let i = 0; i < flat.length; i += 2) {
    ring.push([Number(int(flat[i], `${where}[${i / 2}].lat`, -LAT_MAX, LAT_MAX)),
      Number(int(flat[i + 1], `${where}[${i / 2}].lon`, -LON_MAX, LON_MAX))]);
  }
  return ring;
}

// --- §6.6 geometry: exact integer plane tests (BigInt: the products exceed 2^53) ----------

const plane = (ring, scale = 1n) => ring.map(([lat, lon]) => [BigInt(lon) * scale, BigInt(lat) * scale]);
const edgesOf = (pts) => pts.map((p, i) => [p, pts[(i + 1) % pts.length]]);
const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
const min = (a, b) => (a < b ? a : b);
const max = (a, b) => (a > b ? a : b);
const same = (a, b) => a[0] === b[0] && a[1] === b[1];

function onSegment(p, a, b) {
  return cross(a, b, p) === 0n && min(a[0], b[0]) <= p[0] && p[0] <= max(a[0], b[0])
    && min(a[1], b[1]) <= p[1] && p[1] <= max(a[1], b[1]);
}

function inside(p, pts) {
  let odd = false;
  for (const [a, b] of edgesOf(pts)) {
    if (onSegment(p, a, b)) return true;
    if ((a[1] > p[1]) !== (b[1] > p[1]) && (cross(a, b, p) > 0n) === (b[1] > a[1])) odd = !odd;
  }
  return odd;
}

const crossProperly = (a, b, c, d) => cross(c, d, a) * cross(c, d, b) < 0n
  && cross(a, b, c) * cross(a, b, d) < 0n;

const touch = (a, b, c, d) => crossProperly(a, b, c, d) || onSegment(c, a, b) || onSegment(d, a, b)
  || onSegment(a, c, d) || onSegment(b, c, d);

/** §6.6: distinct points, non-zero area, edges meeting only as neighbours at their point. */
export function isSimpleRing(ring) {
  const pts = plane(ring);
  const n = pts.length;
  if (n < 3 || new Set(pts.map((p) => `${p[0]},${p[1]}`)).size !== n) return false;
  const edges = edgesOf(pts);
  if (edges.reduce((s, [a, b]) => s + cross([0n, 0n], a, b), 0n) === 0n) return false;
  for (let i = 0; i < n; i++) {
    const [a, b] = edges[i];
    for (let j = i + 1; j < n; j++) {
      const [c, d] = edges[j];
      if (j === i + 1 || (i === 0 && j === n - 1)) {
        const [shared, far] = j === i + 1 ? [b, d] : [a, c];
        const mine = j === i + 1 ? a : b;
        if (onSegment(far, mine, shared) || onSegment(mine, shared, far)) return false;
      } else if (touch(a, b, c, d)) return false;
    }
  }
  return true;
}

/** §6.6 "polygon within a scope polygon" (scope simple), exact. */
export function ringWithin(ring, scope) {
  const area = plane(ring, 2n);
  const outline = plane(scope, 2n);
  const outlineEdges = edgesOf(outline);
  for (const [p, q] of edgesOf(area)) {
    if (outlineEdges.some(([a, b]) => crossProperly(p, q, a, b))) return false;
    const dir = [q[0] - p[0], q[1] - p[1]];
    const along = (v) => (v[0] - p[0]) * dir[0] + (v[1] - p[1]) * dir[1];
    const cuts = [p, q, ...outline.filter((v) => onSegment(v, p, q))]
      .filter((v, i, all) => all.findIndex((w) => same(v, w)) === i)
      .sort((u, v) => { const d = along(u) - along(v); return d < 0n ? -1 : d > 0n ? 1 : 0; });
    const pieces = cuts.length > 1 ? cuts.slice(1).map((w, i) => [cuts[i], w]) : [[p, p]];
    for (const [u, w] of pieces) {
      // Doubled coordinates are even, so the midpoint is exact (floor division as Python's).
      if (!inside([floorHalf(u[0] + w[0]), floorHalf(u[1] + w[1])], outline)) return false;
    }
  }
  return true;
}

const floorHalf = (v) => (v >= 0n ? v / 2n : -((-v + 1n) / 2n));

const EARTH_RADIUS = 6371008.8;
const K = EARTH_RADIUS * Math.PI / 180 / 1e7;

/** Metres from the circle's centre to segment a-b, equirectangular at the centre (§6.6). */
function edgeDistance([latC, lonC], a, b) {
  const kx = K * Math.cos((latC / 1e7) * (Math.PI / 180));
  const ax = (a[1] - lonC) * kx; const ay = (a[0] - latC) * K;
  const bx = (b[1] - lonC) * kx; const by = (b[0] - latC) * K;
  const dx = bx - ax; const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len2));
  return Math.hypot(ax + t * dx, ay + t * dy);
}

export function circleWithin(circle, scope) {
  if (!inside([BigInt(circle[1]), BigInt(circle[0])], plane(scope))) return false;
  return scope.every((a, i) => edgeDistance(circle, a, scope[(i + 1) % scope.length]) >= circle[2]);
}

/** §6.6: every area of an info lies inside the certificate's polygons and geocodes. */
export function areaWithin(areas, polygons, geocodes) {
  if (!areas.length) return false;
  const codes = new Set(geocodes.map(([n, v]) => JSON.stringify([n, v])));
  return areas.every((area) => (area.polygons.length || area.circles.length || area.geocodes.length)
    && area.polygons.every((r) => polygons.some((s) => ringWithin(r, s)))
    && area.circles.every((c) => polygons.some((s) => circleWithin(c, s)))
    && area.geocodes.every(([n, v]) => codes.has(JSON.stringify([n, v]))));
}

function haversine(lat1, lon1, lat2, lon2) {
  const r = (x) => (x / 1e7) * (Math.PI / 180); // as Python's math.radians
  const p1 = r(lat1); const p2 = r(lat2);
  const h = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(r(lon2 - lon1) / 2) ** 2;
  return 2 * EARTH_RADIUS * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Whether an area covers the point (lat, lon) (degrees × 10^7): §6.6 "Coverage". */
export function covers(area, lat, lon) {
  const p = [BigInt(lon), BigInt(lat)];
  return area.polygons.some((r) => inside(p, plane(r)))
    || area.circles.some(([cl, co, radius]) => haversine(cl, co, lat, lon) <= radius);
}

// Contact cards as QR codes (docs/steunpunt.md "Contacts by QR code"). A resident's card is a
// link to the app at this steunpunt's address with the fingerprint after `#contact=`: a
// phone's camera app opens it in the browser, and the app adds the contact (the fragment never
// reaches the hub). The page draws the code itself (the vendored `qr`, offline) and reads one
// from a photo the resident takes or picks; a pasted link or a typed fingerprint works as well.

import { decodeQR, encodeQR } from '../vendor/qr.js';

const SVG = 'http://www.w3.org/2000/svg';
const SIDE = 224; // CSS pixels: large enough for a camera at arm's length
const MAX_PHOTO_SIDE = 1600; // pixels: a phone photo is scaled down before it is read

/** A typed fingerprint as the app writes it (groups of 4), or null if it is none. */
export function normalFingerprint(s) {
  const raw = s.toUpperCase().replace(/[\s-]/g, '');
  return /^[A-Z2-7]{32}$/.test(raw) ? raw.match(/.{4}/g).join(' ') : null;
}

/** The contact link of `fingerprint` for the app at `origin`. */
export function contactLink(origin, fingerprint) {
  return `${origin}/app/#contact=${fingerprint.replace(/ /g, '')}`;
}

/** The fingerprint in a contact link, a `#contact=` fragment or a bare fingerprint; or null. */
export function parseContact(text) {
  const s = String(text).trim();
  const at = s.indexOf('#contact=');
  return normalFingerprint(at >= 0 ? s.slice(at + '#contact='.length) : s);
}

/** An <svg> element showing `text` as a QR code (drawn with DOM calls: no markup parsed). */
export function qrSvg(text, title) {
  const cells = encodeQR(text, 'raw', { ecc: 'medium', border: 2 });
  const n = cells.length;
  let d = '';
  cells.forEach((row, y) => row.forEach((on, x) => { if (on) d += `M${x} ${y}h1v1h-1z`; }));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${n} ${n}`);
  svg.setAttribute('width', String(SIDE));
  svg.setAttribute('height', String(SIDE));
  svg.setAttribute('role', 'img');
  svg.setAttribute('class', 'qr');
  const label = document.createElementNS(SVG, 'title');
  label.textContent = title;
  const back = document.createElementNS(SVG, 'rect');
  for (const [k, v] of [['width', n], ['height', n], ['fill', '#fff']]) back.setAttribute(k, v);
  const dark = document.createElementNS(SVG, 'path');
  dark.setAttribute('d', d);
  dark.setAttribute('fill', '#000');
  svg.append(label, back, dark);
  svg.dataset.text = text;
  return svg;
}

/** The text of the QR code in an image file (a photo), or null if none is found. The image
 *  is decoded with createImageBitmap: no URL is made for it (the page's policy allows none). */
export async function readQrPhoto(file) {
  let bitmap;
  try { bitmap = await createImageBitmap(file); } catch { return null; }
  const scale = Math.min(1, MAX_PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0, width, height);
  try {
    return decodeQR({ width, height, data: ctx.getImageData(0, 0, width, height).data });
  } catch {
    return null; // no code found in the photo
  }
}

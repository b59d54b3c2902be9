// QR codes for the browser node's contact cards (docs/steunpunt.md): made from a contact link
// and read back from a photo, in the browser, offline. Bundled by web/vendor_js.py into
// meshnode/daemon/web/static/vendor/qr.js.
export { default as encodeQR } from 'qr';
export { decodeQR } from 'qr/decode.js';

// The primitives the browser node needs (docs/protocol.md §3, §5): bundled by
// scripts/vendor_js.py into meshnode/daemon/web/static/vendor/crypto.js.
export { ed25519, x25519 } from '@noble/curves/ed25519';
export { sha256, sha512 } from '@noble/hashes/sha2';
export { hmac } from '@noble/hashes/hmac';
export { extract as hkdfExtract, expand as hkdfExpand } from '@noble/hashes/hkdf';
export { chacha20poly1305 } from '@noble/ciphers/chacha';

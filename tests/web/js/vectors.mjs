// The browser node's modules against tests/vectors/v1.json, byte for byte where the vectors
// fix bytes: run with `node tests/web/js/vectors.mjs` (tests/web/test_js_vectors.py does, and
// tests/web/test_app_browser.py runs the same checks inside Chromium). Prints one JSON line:
// {"passed": n, "failed": [what, ...], "native": whether Node's own Ed25519 was used}.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runFast } from '../../../meshnode/daemon/web/static/app/selftest.js';
import { checkAlerts } from './alert_vectors.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const vectors = JSON.parse(readFileSync(join(here, '..', '..', 'vectors', 'v1.json'), 'utf8'));
const result = run(vectors);
const fast = await runFast(vectors);
result.passed += fast.passed;
result.failed.push(...fast.failed);
result.native = fast.native;
const alerts = checkAlerts(vectors);
result.passed += alerts.passed;
result.failed.push(...alerts.failed);
console.log(JSON.stringify(result));
process.exit(result.failed.length ? 1 : 0);

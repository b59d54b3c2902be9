// The browser node's storage: IndexedDB on the phone. The identity's secret seeds are made in
// the browser and kept here only: nothing in this file talks to the hub.

const DB = 'meshnode';
const VERSION = 1;

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export class Store {
  static async open() {
    const r = indexedDB.open(DB, VERSION);
    r.onupgradeneeded = () => {
      const db = r.result;
      db.createObjectStore('identity');
      db.createObjectStore('messages', { keyPath: 'key' });
      db.createObjectStore('contacts', { keyPath: 'fingerprint' });
    };
    return new Store(await req(r));
  }

  constructor(db) {
    this.db = db;
    this.writes = new Map(); // key -> record to put, or null to delete: one transaction a turn
  }

  _tx(name, mode = 'readonly') { return this.db.transaction(name, mode).objectStore(name); }

  identity() { return req(this._tx('identity').get('me')); }

  saveIdentity(identity) { return req(this._tx('identity', 'readwrite').put(identity, 'me')); }

  /** What the alert book keeps (alerts.js): pinned roots, revocations, verified alerts. Kept
   *  beside the identity: the roots pinned on the first visit are this phone's, like its keys. */
  alertState() { return req(this._tx('identity').get('alerts')); }

  saveAlertState(state) { return req(this._tx('identity', 'readwrite').put(state, 'alerts')); }

  messages() { return req(this._tx('messages').getAll()); }

  put(record) { this._write(record.key, record); }

  drop(key) { this._write(key, null); }

  // A sync brings thousands of messages: they are written together, in one transaction per
  // turn of the event loop, not one each.
  // The resident's own words are written at once (a page closed right after must keep them).
  _write(key, record) {
    if (!this.writes.size) setTimeout(() => this._flush(), 0);
    this.writes.set(key, record);
    if (record && record.mine) this._flush();
  }

  _flush() {
    if (!this.writes.size) return;
    const writes = this.writes;
    this.writes = new Map();
    const store = this._tx('messages', 'readwrite');
    for (const [key, record] of writes) {
      if (record === null) store.delete(key); else store.put(record);
    }
  }

  contacts() { return req(this._tx('contacts').getAll()); }

  saveContact(contact) { return req(this._tx('contacts', 'readwrite').put(contact)); }

  dropContact(fp) { return req(this._tx('contacts', 'readwrite').delete(fp)); }
}

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

  constructor(db) { this.db = db; }

  _tx(name, mode = 'readonly') { return this.db.transaction(name, mode).objectStore(name); }

  identity() { return req(this._tx('identity').get('me')); }

  saveIdentity(identity) { return req(this._tx('identity', 'readwrite').put(identity, 'me')); }

  messages() { return req(this._tx('messages').getAll()); }

  put(record) { return req(this._tx('messages', 'readwrite').put(record)); }

  drop(key) { return req(this._tx('messages', 'readwrite').delete(key)); }

  contacts() { return req(this._tx('contacts').getAll()); }

  saveContact(contact) { return req(this._tx('contacts', 'readwrite').put(contact)); }

  dropContact(fp) { return req(this._tx('contacts', 'readwrite').delete(fp)); }
}

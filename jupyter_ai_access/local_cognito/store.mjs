// File-backed storage adapter for oidc-provider.
//
// Every model (sessions, grants, codes, refresh tokens, interactions) lives in one Map kept in
// memory and written through to <state>/store.json (0600, atomic replace) so that refresh tokens
// and hosted-UI sessions survive a restart of the emulator, as they survive on a real user pool.
// Expired entries are dropped when read and when the file is written.
import fs from 'node:fs';
import path from 'node:path';

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest']);

export class FileStore {
  constructor(file) {
    this.file = file;
    this.entries = new Map(); // key -> { payload, expiresAt (ms or null) }
    if (fs.existsSync(file)) {
      const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
      for (const [key, value] of Object.entries(saved)) this.entries.set(key, value);
    }
  }

  get(key) {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  set(key, payload, expiresInSeconds) {
    const expiresAt = typeof expiresInSeconds === 'number' ? Date.now() + expiresInSeconds * 1000 : null;
    this.entries.set(key, { payload, expiresAt });
  }

  delete(key) {
    this.entries.delete(key);
  }

  flush() {
    const now = Date.now();
    const out = {};
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt === null || entry.expiresAt > now) out[key] = entry;
    }
    const tmp = path.join(path.dirname(this.file), `.store.${process.pid}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(out), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }
}

export function adapterFactory(store) {
  return class FileAdapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      store.set(this.key(id), payload, expiresIn);
      if (GRANTABLE.has(this.name) && payload.grantId) {
        const grantKey = `grant:${payload.grantId}`;
        const members = store.get(grantKey) || [];
        members.push(this.key(id));
        store.set(grantKey, members, expiresIn);
      }
      if (this.name === 'Session' && payload.uid) {
        store.set(`sessionUid:${payload.uid}`, id, expiresIn);
      }
      store.flush();
    }

    async find(id) {
      return store.get(this.key(id));
    }

    async findByUid(uid) {
      const id = store.get(`sessionUid:${uid}`);
      return id ? this.find(id) : undefined;
    }

    async findByUserCode() {
      return undefined; // device flow is not offered by Cognito
    }

    async consume(id) {
      const payload = store.get(this.key(id));
      if (payload) {
        payload.consumed = Math.floor(Date.now() / 1000);
        store.flush();
      }
    }

    async destroy(id) {
      store.delete(this.key(id));
      store.flush();
    }

    async revokeByGrantId(grantId) {
      const grantKey = `grant:${grantId}`;
      for (const key of store.get(grantKey) || []) store.delete(key);
      store.delete(grantKey);
      store.flush();
    }
  };
}

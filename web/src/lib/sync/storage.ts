// Where the replica and the outbox live between visits: IndexedDB in the
// browser. One record holds both, written in one transaction, so the
// cursor never gets ahead of the tasks it vouches for. Every tab of the
// user shares the record: the outbox and the notices are changed by
// read-modify-write in one transaction (`update`), never overwritten with
// a tab's own copy, so one tab's writes cannot erase another's. The replica
// is each tab's own, stored whole with its cursor: any tab's pair is
// consistent, so the last one stored is as good as any.

import type { Notice, Outbox } from './outbox'
import type { Replica } from './replica'
import type { PendingWrite } from './types'

export interface Snapshot {
  replica: Replica
  outbox: Outbox
  /** Writes not applied, to tell the user about (absent in records from before notices were kept). */
  notices?: Notice[]
}

export interface SnapshotStore {
  load(): Promise<Snapshot | null>
  save(snapshot: Snapshot): Promise<void>
  /** Replaces the record with `change(record)`, read and written in one transaction; returns what was written. */
  update(change: (current: Snapshot | null) => Snapshot): Promise<Snapshot>
  /** Lets go of the database (so it can be deleted). */
  close?(): void
}

/**
 * A write-ahead copy of the writes made in this browser that the stored
 * outbox may not have yet. IndexedDB stores asynchronously, and a reload
 * or a closed tab aborts a transaction still in flight: a delete made a
 * moment before a reload was lost that way. localStorage is written at
 * once, so a write the UI showed is in the journal before it is shown,
 * and the next start puts back into the outbox whatever the outbox does
 * not have (by `jid`).
 */
export interface Journal {
  entries(): PendingWrite[]
  add(write: PendingWrite): void
  /** Forgets the writes with these `jid`s (the stored outbox has them, or they were withdrawn). */
  remove(jids: ReadonlySet<string>): void
  /** Forgets everything (sign-out). */
  clear(): void
}

/** The journal of one user's writes in `storage` (localStorage), or none where there is none. */
export function localJournal(userId: string, storage: Storage | undefined = globalThis.localStorage): Journal | undefined {
  if (!storage) return undefined
  const key = `tasksync-journal-${userId}`
  const read = (): PendingWrite[] => {
    try {
      const parsed: unknown = JSON.parse(storage.getItem(key) ?? '[]')
      return Array.isArray(parsed) ? (parsed as PendingWrite[]) : []
    } catch {
      return []
    }
  }
  const write = (entries: PendingWrite[]) => {
    try {
      if (entries.length === 0) storage.removeItem(key)
      else storage.setItem(key, JSON.stringify(entries))
    } catch {
      // Full or refused: the outbox in IndexedDB is still written as before.
    }
  }
  return {
    entries: read,
    add: (w) => write([...read(), w]),
    remove: (jids) => write(read().filter((w) => !w.jid || !jids.has(w.jid))),
    clear: () => write([]),
  }
}

/**
 * The database of one user's replica: named by user id (the token's `sub`),
 * never by e-mail address, so the name gives nothing away and an address
 * typed in other letters is the same store.
 */
export function storeName(userId: string): string {
  return `tasksync-user-${userId}`
}

/** Deletes a database; other tabs holding it open let go when asked (see `onversionchange`). */
export function deleteIndexedDb(name: string, idb: IDBFactory = indexedDB): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = idb.deleteDatabase(name)
    req.onsuccess = () => resolve()
    req.onerror = () => reject(req.error)
  })
}

/**
 * Opens the user's store. A replica kept under the old name (the e-mail
 * address, before stores were named by user id) moves over when the new
 * store is still empty, outbox included, and the old database is deleted.
 */
export async function openUserStore(userId: string, legacyEmail: string | null, idb: IDBFactory = indexedDB): Promise<SnapshotStore> {
  const store = await openIndexedDbStore(storeName(userId), idb)
  if (!legacyEmail) return store
  const names = typeof idb.databases === 'function' ? (await idb.databases()).map((d) => d.name) : null
  for (const legacy of new Set([`tasksync-${legacyEmail}`, `tasksync-${legacyEmail.toLowerCase()}`])) {
    if (names && !names.includes(legacy)) continue
    const old = await openIndexedDbStore(legacy, idb)
    const snapshot = await old.load()
    old.close?.()
    if (snapshot && !(await store.load())) await store.save(snapshot)
    await deleteIndexedDb(legacy, idb)
  }
  return store
}

const STORE = 'snapshots'

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error)
    tx.onabort = () => reject(tx.error)
  })
}

/** A snapshot store in IndexedDB, one database per user (`name`). */
export async function openIndexedDbStore(name: string, idb: IDBFactory = indexedDB): Promise<SnapshotStore> {
  const open = idb.open(name, 1)
  open.onupgradeneeded = () => {
    open.result.createObjectStore(STORE)
  }
  const db = await request(open)
  // Another tab deletes this database (sign-out): let go, or the deletion waits for us.
  db.onversionchange = () => db.close()
  return {
    close() {
      db.close()
    },
    async load() {
      const tx = db.transaction(STORE, 'readonly')
      const value = (await request(tx.objectStore(STORE).get('current'))) as Snapshot | undefined
      return value ?? null
    },
    async save(snapshot) {
      const tx = db.transaction(STORE, 'readwrite')
      tx.objectStore(STORE).put(snapshot, 'current')
      await committed(tx)
    },
    async update(change) {
      const tx = db.transaction(STORE, 'readwrite')
      const store = tx.objectStore(STORE)
      let next: Snapshot | null = null
      const read = store.get('current')
      read.onsuccess = () => {
        next = change((read.result as Snapshot | undefined) ?? null)
        store.put(next, 'current')
      }
      await committed(tx)
      if (next === null) throw new Error('the snapshot update did not run')
      return next
    },
  }
}

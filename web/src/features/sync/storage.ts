// Where the replica and the outbox live between visits: IndexedDB in the
// browser. One record holds both, written in one transaction, so the
// cursor never gets ahead of the tasks it vouches for.

import type { Outbox } from './outbox'
import type { Replica } from './replica'

export interface Snapshot {
  replica: Replica
  outbox: Outbox
}

export interface SnapshotStore {
  load(): Promise<Snapshot | null>
  save(snapshot: Snapshot): Promise<void>
}

const STORE = 'snapshots'

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

/** A snapshot store in IndexedDB, one database per user (`name`). */
export async function openIndexedDbStore(name: string, idb: IDBFactory = indexedDB): Promise<SnapshotStore> {
  const open = idb.open(name, 1)
  open.onupgradeneeded = () => {
    open.result.createObjectStore(STORE)
  }
  const db = await request(open)
  return {
    async load() {
      const tx = db.transaction(STORE, 'readonly')
      const value = (await request(tx.objectStore(STORE).get('current'))) as Snapshot | undefined
      return value ?? null
    },
    async save(snapshot) {
      const tx = db.transaction(STORE, 'readwrite')
      tx.objectStore(STORE).put(snapshot, 'current')
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve()
        tx.onerror = () => reject(tx.error)
        tx.onabort = () => reject(tx.error)
      })
    },
  }
}

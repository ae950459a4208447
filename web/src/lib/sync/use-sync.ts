// The sync engine for React: one engine per signed-in user, started once
// and kept for the whole session (not per screen), its tasks, lists,
// status, held deletes and notices as state, and the ways to change them.

import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react'

import type { HeldDelete, Status } from './engine'
import { SyncEngine } from './engine'
import type { Notice } from './outbox'
import type { SnapshotStore } from './storage'
import { deleteIndexedDb, localJournal, openUserStore, storeName } from './storage'
import { graphqlTransport } from './transport'
import type { ListAction, ListResult, PendingWrite, Task, TaskList } from './types'

export interface SyncState {
  /** The tasks of every list (each names its `listId`). */
  tasks: Task[]
  /** The user's lists: the personal list first, then oldest first. */
  lists: TaskList[]
  /** The personal list's id (the user's id), known before the lists have synced. */
  personalListId: string | null
  status: Status
  /** Whether the stored replica has been loaded (until then `tasks` is empty). */
  loaded: boolean
  /** Writes not applied, for the user to act on; kept with the replica. */
  notices: readonly Notice[]
  /** Deletes inside their undo window (their tasks are hidden). */
  held: readonly HeldDelete[]
  /** Applies a write at once, stores it and sends it when online. */
  write(write: PendingWrite): Promise<void>
  /** The writes not yet acknowledged, oldest first. */
  pending(): readonly PendingWrite[]
  /**
   * The task as shown right now (pending writes included) and the version a
   * new write of it must expect, read together from the engine: the
   * rendered props may lag behind the outbox by a save. null before the
   * engine runs or when the task is gone.
   */
  latest(id: string): { task: Task; expectedVersion: number } | null
  /** The version a write of task `id` must expect when the user began it on version `seen` (see `SyncEngine.expectedVersion`). */
  expectedVersion(id: string, seen: number): number
  /** Changes a list on the server (needs the network; the answer says whether it worked). */
  listAction(action: ListAction): Promise<ListResult>
  undoDelete(id: string): void
  dismiss(notice: Notice): void
  /** Restores the task of a "gone" notice as a new task. */
  restore(notice: Notice & { kind: 'gone' }): void
  /**
   * Sign-out, for the replica's sake: sends what is pending first (held
   * deletes included). If writes cannot be sent and `discard` is false, it
   * stops and returns how many; otherwise it runs `signOut` and deletes the
   * user's local database.
   */
  signOut(signOut: () => Promise<void>, discard: boolean): Promise<{ unsent: number }>
}

/** How long sign-out waits for pending writes to reach the server. */
const DRAIN_MS = 8_000

export interface SyncAuth {
  /** The freshest access token, read on every request and every (re)connect. */
  token: () => string
  /** The access token now ('' or null when there is none yet): a new one cuts the engine's back-off short. */
  current: string | null
  /** The server refused the token: check the session now (refresh it, or end it if it was revoked). */
  revalidate: () => void
}

/**
 * Runs the sync engine for `userId` while mounted. `email` only finds a
 * replica stored under the old, address-based name. The engine is never
 * restarted for a new token: a restart loaded the stored snapshot over
 * writes made meanwhile. The browser's `online` and `offline` events reach
 * it at once, so queued writes go out as soon as the network is back.
 */
export function useSync(userId: string | null, email: string | null, auth: SyncAuth): SyncState {
  const [tasks, setTasks] = useState<Task[]>([])
  const [lists, setLists] = useState<TaskList[]>([])
  const [status, setStatus] = useState<Status>('offline')
  const [loaded, setLoaded] = useState(false)
  const [notices, setNotices] = useState<readonly Notice[]>([])
  const [held, setHeld] = useState<readonly HeldDelete[]>([])
  const authRef = useRef(auth)
  authRef.current = auth
  const emailRef = useRef(email)
  emailRef.current = email
  const engineRef = useRef<SyncEngine | null>(null)
  const storeRef = useRef<SnapshotStore | null>(null)
  // Writes made before the engine exists (its store is opening) wait here, in order.
  const early = useRef<PendingWrite[]>([])

  useEffect(() => {
    setTasks([])
    setLists([])
    setLoaded(false)
    setNotices([])
    setHeld([])
    if (!userId) return
    let closed = false
    let dispose = () => {}
    void (async () => {
      const store = await openUserStore(userId, emailRef.current)
      const transport = graphqlTransport({ base: '', token: () => authRef.current.token() })
      // The user's tabs share the stored outbox: they tell each other when it
      // changed, and one at a time sends it.
      const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(storeName(userId)) : null
      const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
      // Every write is in localStorage before it is shown (see `storage.Journal`).
      const journal = localJournal(userId)
      const engine: SyncEngine = new SyncEngine(store, transport, {
        onTasks: (next) => {
          if (closed) return
          setTasks(next)
          setHeld(engine.held())
          setLoaded(true)
        },
        onLists: (next) => {
          if (!closed) setLists(next)
        },
        onStatus: (next) => {
          if (!closed) setStatus(next)
        },
        onNotices: (next) => {
          if (!closed) setNotices(next)
        },
        onUnauthorized: () => {
          if (!closed) authRef.current.revalidate()
        },
        onShared: () => channel?.postMessage('changed'),
      }, { ...(journal ? { journal } : {}), ...(locks ? { lock: (fn) => locks.request(`${storeName(userId)}-send`, fn) } : {}) })
      if (channel) channel.onmessage = () => void engine.refresh()
      const onOnline = () => engine.wake()
      const onOffline = () => engine.offline()
      window.addEventListener('online', onOnline)
      window.addEventListener('offline', onOffline)
      dispose = () => {
        channel?.close()
        window.removeEventListener('online', onOnline)
        window.removeEventListener('offline', onOffline)
        engine.close()
        transport.dispose()
        store.close?.()
      }
      if (closed) return dispose()
      engineRef.current = engine
      storeRef.current = store
      for (const w of early.current.splice(0)) void engine.write(w)
      void engine.start()
    })().catch(() => {
      // IndexedDB is unavailable (private mode in some browsers): nothing to sync into.
      if (!closed) setLoaded(true)
    })
    return () => {
      closed = true
      engineRef.current = null
      storeRef.current = null
      dispose()
    }
  }, [userId])

  const current = auth.current
  useEffect(() => {
    if (current) engineRef.current?.wake()
  }, [current])

  // The engine queues a write synchronously, so a second write right after
  // it (a double click) already sees it in the outbox.
  const write = useCallback(async (w: PendingWrite) => {
    const engine = engineRef.current
    if (engine) return engine.write(w)
    early.current.push(w)
  }, [])
  const latest = useCallback((id: string) => {
    const engine = engineRef.current
    if (!engine) return null
    const task = engine.tasks().find((t) => t.id === id)
    // The server version shown: writes queued before this one are rebased by
    // the outbox when they are applied (`outbox.rebase`).
    return task ? { task, expectedVersion: task.version } : null
  }, [])
  const expectedVersion = useCallback((id: string, seen: number) => engineRef.current?.expectedVersion(id, seen) ?? seen, [])
  const pending = useCallback(() => engineRef.current?.pending() ?? [], [])
  const listAction = useCallback(
    async (action: ListAction): Promise<ListResult> =>
      engineRef.current?.listAction(action) ?? { ok: false, code: 'NETWORK', message: 'not connected yet' },
    [],
  )
  const undoDelete = useCallback((id: string) => void engineRef.current?.undoDelete(id), [])
  const dismiss = useCallback((notice: Notice) => void engineRef.current?.dismiss(notice), [])
  const restore = useCallback((notice: Notice & { kind: 'gone' }) => void engineRef.current?.restore(notice, crypto.randomUUID()), [])
  const signOut = useCallback(
    async (end: () => Promise<void>, discard: boolean) => {
      const engine = engineRef.current
      if (engine && !discard) {
        const unsent = await engine.drain(DRAIN_MS)
        if (unsent > 0) return { unsent }
      }
      await end()
      engine?.close()
      storeRef.current?.close?.()
      if (userId) {
        localJournal(userId)?.clear()
        await deleteIndexedDb(storeName(userId)).catch(() => {})
      }
      return { unsent: 0 }
    },
    [userId],
  )

  return { tasks, lists, personalListId: userId, status, loaded, notices, held, write, pending, latest, expectedVersion, listAction, undoDelete, dismiss, restore, signOut }
}

export const SyncContext = createContext<SyncState | null>(null)

export function useSyncState(): SyncState {
  const state = useContext(SyncContext)
  if (!state) throw new Error('useSyncState outside <SyncProvider>')
  return state
}

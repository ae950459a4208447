// The sync engine for React: one engine per signed-in user, its tasks,
// status and conflict notices as state, and write().

import { useCallback, useEffect, useRef, useState } from 'react'

import type { Status } from './engine'
import { SyncEngine } from './engine'
import type { ConflictNotice } from './outbox'
import { openIndexedDbStore } from './storage'
import { graphqlTransport } from './transport'
import type { PendingWrite, Task } from './types'

export interface SyncState {
  tasks: Task[]
  status: Status
  /** Whether the stored replica has been loaded (until then `tasks` is empty). */
  loaded: boolean
  conflicts: ConflictNotice[]
  /** Applies a write at once and sends it when online. */
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
  dismissConflict(notice: ConflictNotice): void
}

/**
 * Runs the sync engine for `user` (a stable key: the user id or e-mail)
 * while mounted. `token` is read on every request and every (re)connect,
 * so it must return the freshest access token. `online` says whether a
 * token is there to use: the engine is restarted when it becomes true, so
 * an app that started offline connects as soon as it can instead of
 * waiting out its back-off.
 */
export function useSync(user: string, token: () => string, online: boolean): SyncState {
  const [tasks, setTasks] = useState<Task[]>([])
  const [status, setStatus] = useState<Status>('offline')
  const [loaded, setLoaded] = useState(false)
  const [conflicts, setConflicts] = useState<ConflictNotice[]>([])
  const tokenRef = useRef(token)
  tokenRef.current = token
  const engineRef = useRef<Promise<SyncEngine> | null>(null)
  const currentRef = useRef<SyncEngine | null>(null)

  useEffect(() => {
    let closed = false
    let dispose = () => {}
    const ready = (async () => {
      const store = await openIndexedDbStore(`tasksync-${user}`)
      const transport = graphqlTransport({ base: '', token: () => tokenRef.current() })
      const engine = new SyncEngine(store, transport, {
        onTasks: (next) => {
          if (!closed) {
            setTasks(next)
            setLoaded(true)
          }
        },
        onStatus: (next) => {
          if (!closed) setStatus(next)
        },
        onConflict: (notice) => {
          if (!closed) setConflicts((list) => [...list, notice])
        },
      })
      dispose = () => {
        engine.close()
        transport.dispose()
      }
      if (closed) dispose()
      else {
        currentRef.current = engine
        void engine.start()
      }
      return engine
    })()
    engineRef.current = ready
    ready.catch(() => {
      // IndexedDB is unavailable (private mode in some browsers): nothing to sync into.
      if (!closed) setLoaded(true)
    })
    return () => {
      closed = true
      dispose()
      // engineRef keeps the closed engine until the next one replaces it: a
      // write made while unmounting (a delete whose undo time was cut short)
      // still lands in the stored outbox and is sent on the next visit.
      currentRef.current = null
    }
  }, [user, online])

  // With a running engine the write is queued synchronously, so a second
  // write right after it (a double click) already sees it in the outbox.
  const write = useCallback(async (w: PendingWrite) => {
    const running = currentRef.current
    if (running) return running.write(w)
    const engine = await engineRef.current
    await engine?.write(w)
  }, [])
  const latest = useCallback((id: string) => {
    const engine = currentRef.current
    if (!engine) return null
    const task = engine.tasks().find((t) => t.id === id)
    // The server version shown: writes queued before this one are rebased by
    // the outbox when they are applied (`outbox.rebase`).
    return task ? { task, expectedVersion: task.version } : null
  }, [])
  const pending = useCallback(() => currentRef.current?.pending() ?? [], [])
  const dismissConflict = useCallback((notice: ConflictNotice) => setConflicts((list) => list.filter((n) => n !== notice)), [])

  return { tasks, status, loaded, conflicts, write, pending, latest, dismissConflict }
}

import { useCallback, useEffect, useRef, useState } from 'react'

import type { Task } from '../sync/types'

export const UNDO_MS = 5_000

export interface PendingDelete {
  task: Task
  expectedVersion: number
}

/**
 * Deletes that wait `UNDO_MS` before they are sent, so the user can undo
 * them. A waiting delete hides its task; undo cancels it; when the time is
 * up (or the screen goes away) `commit` sends it.
 */
export function usePendingDeletes(commit: (pending: PendingDelete) => void) {
  const [waiting, setWaiting] = useState<PendingDelete[]>([])
  const timers = useRef(new Map<string, { timer: ReturnType<typeof setTimeout>; pending: PendingDelete }>())
  const commitRef = useRef(commit)
  commitRef.current = commit

  const finish = useCallback((id: string, send: boolean) => {
    const entry = timers.current.get(id)
    if (!entry) return
    clearTimeout(entry.timer)
    timers.current.delete(id)
    setWaiting((list) => list.filter((p) => p.task.id !== id))
    if (send) commitRef.current(entry.pending)
  }, [])

  const schedule = useCallback(
    (pending: PendingDelete) => {
      if (timers.current.has(pending.task.id)) return
      const timer = setTimeout(() => finish(pending.task.id, true), UNDO_MS)
      timers.current.set(pending.task.id, { timer, pending })
      setWaiting((list) => [...list, pending])
    },
    [finish],
  )

  const undo = useCallback((id: string) => finish(id, false), [finish])

  // Leaving the screen sends what is still waiting: the user did delete it.
  useEffect(() => {
    const map = timers.current
    return () => {
      for (const [id, entry] of map) {
        clearTimeout(entry.timer)
        map.delete(id)
        commitRef.current(entry.pending)
      }
    }
  }, [])

  return { waiting, schedule, undo }
}

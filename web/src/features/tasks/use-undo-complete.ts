import { useCallback, useEffect, useRef, useState } from 'react'

export interface Completed {
  id: string
  title: string
}

/**
 * Tasks just marked done, each offered for undo for `ms`. Completing is
 * sent at once (unlike a delete, it hides nothing for good): undo is a
 * second write that marks the task not done again.
 */
export function useUndoComplete(ms: number) {
  const [completed, setCompleted] = useState<readonly Completed[]>([])
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>())

  const forget = useCallback((id: string) => {
    clearTimeout(timers.current.get(id))
    timers.current.delete(id)
    setCompleted((list) => list.filter((c) => c.id !== id))
  }, [])

  const offer = useCallback(
    (item: Completed) => {
      clearTimeout(timers.current.get(item.id))
      timers.current.set(
        item.id,
        setTimeout(() => forget(item.id), ms),
      )
      setCompleted((list) => [...list.filter((c) => c.id !== item.id), item])
    },
    [ms, forget],
  )

  useEffect(() => {
    const all = timers.current
    return () => {
      for (const timer of all.values()) clearTimeout(timer)
    }
  }, [])

  return { completed, offer, forget }
}

// Writes made locally (optimistically) and not yet acknowledged by the
// server, replayed in order after a reconnect.

import type { PendingWrite, Task, WriteResult } from './types'

export interface Outbox {
  pending: PendingWrite[]
}

export const emptyOutbox = (): Outbox => ({ pending: [] })

export function enqueue(outbox: Outbox, write: PendingWrite): Outbox {
  return { pending: [...outbox.pending, write] }
}

/** A local edit that lost to a newer server version, for the user to re-apply. */
export interface ConflictNotice {
  write: PendingWrite
  server: Task
}

/** What to do with the head of the outbox after the server answered. */
export type Settled =
  | { outcome: 'applied'; task: Task; outbox: Outbox }
  | { outcome: 'conflict'; notice: ConflictNotice; outbox: Outbox }
  | { outcome: 'dropped'; reason: string; outbox: Outbox }
  | { outcome: 'retry'; outbox: Outbox }

/**
 * Settles the outbox's first write with the server's answer. Only the first
 * write is ever in flight, so order is kept. A network failure or an
 * expired token keeps the write for a retry; a conflict keeps the server's
 * version and returns a notice; a write the server refuses for good (the
 * task is gone, the input is bad) is dropped.
 */
export function settleHead(outbox: Outbox, result: WriteResult): Settled {
  const [head, ...rest] = outbox.pending
  if (!head) return { outcome: 'retry', outbox }
  if (result.ok) return { outcome: 'applied', task: result.task, outbox: { pending: rest } }
  switch (result.code) {
    case 'CONFLICT':
      return { outcome: 'conflict', notice: { write: head, server: result.current }, outbox: { pending: rest } }
    case 'NETWORK':
    case 'UNAUTHENTICATED':
    case 'INTERNAL':
      return { outcome: 'retry', outbox }
    case 'NOT_FOUND':
    case 'BAD_USER_INPUT':
      return { outcome: 'dropped', reason: result.message, outbox: { pending: rest } }
  }
}

/**
 * After a write of a task was applied (its new image is `applied`), the
 * writes still queued for that task build on it: they now expect its new
 * version. Without this, a second quick edit of a task (or an edit of a task
 * created offline) would conflict with the client's own first write. A
 * change made by someone else still shows: the server's version then moves
 * past `applied.version` and the next write conflicts.
 */
export function rebase(outbox: Outbox, applied: Task): Outbox {
  return {
    pending: outbox.pending.map((w) =>
      w.id === applied.id && w.kind !== 'create' ? { ...w, expectedVersion: applied.version } : w,
    ),
  }
}

/**
 * The write that re-applies a conflicting local edit on top of the server's
 * version (what "re-apply my change" in the notice does).
 */
export function reapply(notice: ConflictNotice): PendingWrite | null {
  const { write, server } = notice
  switch (write.kind) {
    case 'create':
      return null
    case 'delete':
      return server.deleted ? null : { kind: 'delete', id: server.id, expectedVersion: server.version }
    case 'update': {
      if (server.deleted) return null
      const { kind, id, expectedVersion: _, ...fields } = write
      return { kind, id, expectedVersion: server.version, ...fields }
    }
  }
}

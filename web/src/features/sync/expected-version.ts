import type { PendingWrite, Task } from './types'

/**
 * The version a new write of `task` must expect. The view shows the server's
 * version (0 for a create not yet sent) while earlier writes of the same
 * task may still wait in the outbox; each of them, once applied, moves the
 * version on by one, so the new write expects the version after them.
 * Without this, a second quick edit (or an edit of a task created offline)
 * would conflict with the user's own earlier write. `task` and `pending`
 * must be read at the same moment (see useSync's `latest`).
 */
export function expectedVersion(task: Task, pending: readonly PendingWrite[]): number {
  return task.version + pending.filter((w) => w.id === task.id).length
}

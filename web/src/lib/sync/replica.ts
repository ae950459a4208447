// The local copy of the user's tasks: pure functions over plain data, so
// that the rules are tested without a browser.

import type { Task } from './types'

export interface Replica {
  /** Every task seen, tombstones included, by id. */
  tasks: Record<string, Task>
  /** Where the copy is consistent up to; null before the first sync. */
  cursor: string | null
}

export const emptyReplica = (): Replica => ({ tasks: {}, cursor: null })

/**
 * Applies a task image if it is newer than the one held. Overlap between a
 * sync and a subscription delivers some changes twice; comparing versions
 * makes that harmless, and an older image can never win over a newer one.
 */
export function applyTask(replica: Replica, task: Task): Replica {
  const held = replica.tasks[task.id]
  if (held && held.version >= task.version) return replica
  return { ...replica, tasks: { ...replica.tasks, [task.id]: task } }
}

/** Applies a change from `taskChanges` and moves the cursor past it. */
export function applyChange(replica: Replica, task: Task, cursor: string): Replica {
  return { ...applyTask(replica, task), cursor }
}

/**
 * Applies one page of `syncTasks`. A full sync replaces the copy: its first
 * page starts from nothing, so tasks deleted while the client was away
 * (whose tombstones may be gone) disappear. The cursor moves only when the
 * last page has been applied.
 */
export function applySyncPage(
  replica: Replica,
  page: { items: Task[]; fullSync: boolean; cursor: string; nextToken: string | null },
  firstPage: boolean,
): Replica {
  let next: Replica = page.fullSync && firstPage ? { tasks: {}, cursor: replica.cursor } : replica
  for (const task of page.items) next = applyTask(next, task)
  return page.nextToken === null ? { ...next, cursor: page.cursor } : next
}

/** The tasks to show: live ones, oldest first. */
export function visibleTasks(replica: Replica): Task[] {
  return Object.values(replica.tasks)
    .filter((t) => !t.deleted)
    .sort((a, b) => (a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt)))
}

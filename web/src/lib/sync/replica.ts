// The local copy of the user's tasks and lists: pure functions over plain
// data, so that the rules are tested without a browser.
//
// The copy holds exactly what the user may see (invariant 6): a task that
// leaves the user's view (REMOVE) is dropped, not kept as a tombstone, and a
// list the user lost or that was deleted goes with every task of it. Only a
// task deleted for everyone (DELETE) stays, as a tombstone, so that an older
// image of it delivered twice cannot bring it back.

import type { SyncPage, Task, TaskChange, TaskList } from './types'

export interface Replica {
  /** Every task seen, tombstones of deleted ones included, by id. */
  tasks: Record<string, Task>
  /** The lists the user may see, by id (never a tombstone). */
  lists: Record<string, TaskList>
  /** Where the copy is consistent up to; null before the first sync. */
  cursor: string | null
}

export const emptyReplica = (): Replica => ({ tasks: {}, lists: {}, cursor: null })

/**
 * A replica as stored, made current. A record from before lists (no
 * `lists`) has never been told the user's lists, and a delta sync from its
 * cursor would only bring the lists changed since: it forgets its cursor,
 * so the next sync is a full one.
 */
export function fromStored(stored: Partial<Replica> | undefined | null): Replica {
  if (!stored) return emptyReplica()
  if (stored.lists) return { tasks: stored.tasks ?? {}, lists: stored.lists, cursor: stored.cursor ?? null }
  // Before lists every task was in its owner's personal list, whose id is the owner's.
  const tasks = Object.fromEntries(Object.entries(stored.tasks ?? {}).map(([id, t]) => [id, { ...t, listId: t.listId ?? t.owner }]))
  return { tasks, lists: {}, cursor: null }
}

/**
 * Applies a task image if it is newer than the one held. Overlap between a
 * sync and a subscription delivers some changes twice; comparing versions
 * makes that harmless, and an older image can never win over a newer one.
 */
export function applyTask(replica: Replica, task: Task): Replica {
  const held = replica.tasks[task.id]
  // A tombstone of another list is a task that left this user's view by a
  // move (a sync page does not say so): back in view, in the list it moved
  // to, it comes at its own version, which may equal the tombstone's.
  const movedBackIntoView = held?.deleted === true && !task.deleted && held.listId !== task.listId
  if (held && held.version >= task.version && !movedBackIntoView) return replica
  return { ...replica, tasks: { ...replica.tasks, [task.id]: task } }
}

/**
 * Drops a task whatever version is held: it left the user's view. Keeping
 * its tombstone would hide it when it comes back (shared again, moved back)
 * with a version lower than the tombstone's.
 */
export function removeTask(replica: Replica, id: string): Replica {
  if (!(id in replica.tasks)) return replica
  const { [id]: _, ...tasks } = replica.tasks
  return { ...replica, tasks }
}

/** Drops a list and every task of it, tombstones included. */
export function removeList(replica: Replica, id: string): Replica {
  const held = id in replica.lists
  const tasks = Object.fromEntries(Object.entries(replica.tasks).filter(([, t]) => t.listId !== id))
  if (!held && Object.keys(tasks).length === Object.keys(replica.tasks).length) return replica
  const { [id]: _, ...lists } = replica.lists
  return { ...replica, lists, tasks }
}

/** Applies a list image: a tombstone removes the list and its tasks; a live one counts if newer than the one held. */
export function applyList(replica: Replica, list: TaskList): Replica {
  if (list.deleted) return removeList(replica, list.id)
  const held = replica.lists[list.id]
  if (held && held.version >= list.version) return replica
  return { ...replica, lists: { ...replica.lists, [list.id]: list } }
}

/** Applies a change from `taskChanges` and moves the cursor past it. */
export function applyChange(replica: Replica, task: Task, cursor: string): Replica {
  return { ...applyTask(replica, task), cursor }
}

/** Applies any change of the stream (task or list, REMOVE included) and moves the cursor past it. */
export function applyStreamChange(replica: Replica, change: TaskChange): Replica {
  let next = replica
  if (change.list) {
    next = change.op === 'REMOVE' || change.op === 'DELETE' ? removeList(next, change.list.id) : applyList(next, change.list)
  } else if (change.task) {
    next = change.op === 'REMOVE' ? removeTask(next, change.task.id) : applyTask(next, change.task)
  }
  return { ...next, cursor: change.cursor }
}

/**
 * Applies one page of `syncTasks`. A full sync replaces the copy: its first
 * page starts from nothing, so tasks deleted while the client was away
 * (whose tombstones may be gone) disappear, and so do lists the user lost.
 * Lists come on the first page only, and are applied before its tasks: a
 * list tombstone takes its tasks with it, and a tombstone of a task whose
 * list is not (or no longer) held is dropped rather than kept (it is a task
 * that left the user's view, not one deleted in a list they see). The
 * cursor moves only when the last page has been applied.
 */
export function applySyncPage(
  replica: Replica,
  page: Pick<SyncPage, 'items' | 'fullSync' | 'cursor' | 'nextToken'> & { lists?: TaskList[] },
  firstPage: boolean,
): Replica {
  let next: Replica = page.fullSync && firstPage ? { tasks: {}, lists: {}, cursor: replica.cursor } : replica
  if (firstPage) for (const list of page.lists ?? []) next = applyList(next, list)
  for (const task of page.items) {
    if (task.deleted && !(task.listId in next.lists)) next = removeTask(next, task.id)
    else next = applyTask(next, task)
  }
  return page.nextToken === null ? { ...next, cursor: page.cursor } : next
}

/** The ids of the lists held in `before` and not in `after`: the lists the user lost (or deleted). */
export function lostLists(before: Replica, after: Replica): Set<string> {
  return new Set(Object.keys(before.lists).filter((id) => !(id in after.lists)))
}

/** The personal list, once known. */
export function personalList(replica: Replica): TaskList | undefined {
  return Object.values(replica.lists).find((l) => l.personal)
}

/** The lists to show: the personal list first, then by creation, oldest first. */
export function visibleLists(replica: Replica): TaskList[] {
  return Object.values(replica.lists).sort((a, b) =>
    a.personal !== b.personal ? (a.personal ? -1 : 1) : a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt),
  )
}

/** The tasks to show: live ones, oldest first. */
export function visibleTasks(replica: Replica): Task[] {
  return Object.values(replica.tasks)
    .filter((t) => !t.deleted)
    .sort((a, b) => (a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt)))
}

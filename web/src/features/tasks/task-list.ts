// Pure helpers of the tasks screen: filters, counts, empty states, edits.

import type { ConflictNotice } from '../../lib/sync/outbox'
import type { PendingWrite, Task } from '../../lib/sync/types'

export type Filter = 'all' | 'active' | 'done'

export const FILTERS: readonly { value: Filter; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'active', label: 'Active' },
  { value: 'done', label: 'Done' },
]

/** The filter named in the address (`/tasks?filter=done`); anything else is all. */
export function parseFilter(value: string | undefined): Filter {
  return value === 'active' || value === 'done' ? value : 'all'
}

export interface Counts {
  all: number
  active: number
  done: number
}

/** The tasks shown under `filter`, leaving out `hidden` ones. */
export function filterTasks(tasks: readonly Task[], filter: Filter, hidden: ReadonlySet<string> = new Set()): Task[] {
  return tasks.filter((t) => !hidden.has(t.id) && (filter === 'all' || (filter === 'done' ? t.done : !t.done)))
}

export function countTasks(tasks: readonly Task[], hidden: ReadonlySet<string> = new Set()): Counts {
  let all = 0
  let done = 0
  for (const t of tasks) {
    if (hidden.has(t.id)) continue
    all++
    if (t.done) done++
  }
  return { all, active: all - done, done }
}

/** What to say when a filter shows nothing. */
export function emptyMessage(filter: Filter, counts: Counts, readOnly = false): string {
  if (counts.all === 0) return readOnly ? 'No tasks in this list yet.' : 'No tasks yet. Add one above.'
  if (filter === 'active') return 'Nothing left to do. Nice work!'
  if (filter === 'done') return 'No finished tasks yet.'
  return 'No tasks yet. Add one above.'
}

/** The title a conflict notice names: the task as the server has it. */
export function conflictTitle(write: PendingWrite, server: Task): string {
  if (server.title) return server.title
  return write.kind === 'delete' ? 'a task' : (write.title ?? 'a task')
}

/** One field both sides changed, as each side has it, for a conflict notice. */
export interface ConflictSide {
  field: 'Title' | 'Description' | 'Done'
  mine: string
  theirs: string
}

const shownValue = (value: string | boolean | null): string => (value === null || value === '' ? '(none)' : typeof value === 'boolean' ? (value ? 'yes' : 'no') : value)

/** The fields of a conflicting edit, with the user's and the server's values (none for a delete). */
export function conflictSides(notice: ConflictNotice): ConflictSide[] {
  const { write, server } = notice
  if (write.kind !== 'update') return []
  const sides: ConflictSide[] = []
  if (write.title !== undefined) sides.push({ field: 'Title', mine: shownValue(write.title), theirs: shownValue(server.title) })
  if (write.description !== undefined) sides.push({ field: 'Description', mine: shownValue(write.description), theirs: shownValue(server.description) })
  if (write.done !== undefined) sides.push({ field: 'Done', mine: shownValue(write.done), theirs: shownValue(server.done) })
  return sides
}

/** The title a "refused" notice names: the task's, as the notice remembers it, or the one the write sets. */
export function refusedTitle(write: PendingWrite, title?: string): string {
  return title ?? (write.kind === 'delete' ? 'a task' : (write.title ?? 'a task'))
}

export interface TaskEdit {
  title?: string
  description?: string | null
}

/** The fields of `base` that the typed text changes (unchanged ones are left out, so they cannot undo a change made elsewhere). */
export function editOf(base: Task, title: string, description: string): TaskEdit {
  const t = title.trim()
  const d = description.trim() || null
  const edit: TaskEdit = {}
  if (t !== base.title) edit.title = t
  if (d !== (base.description ?? null)) edit.description = d
  return edit
}

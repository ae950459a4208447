// Writes made locally (optimistically) and not yet acknowledged by the
// server, replayed in order after a reconnect; and the notices that tell the
// user about a write the server did not apply.

import type { PendingWrite, Task, TaskFields, UpdateWrite, WriteResult } from './types'

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

/** What a restored task is made of: the task as the user last saw it. */
export interface Draft {
  title: string
  description: string | null
  done: boolean
  /** The list it was in (absent in notices from before lists). */
  listId?: string
}

/**
 * Why a write the UI showed as made was not applied. Kept with the replica
 * (so a reload still shows it) until the user acts on it.
 */
export type Notice =
  | ({ kind: 'conflict' } & ConflictNotice)
  /** Edits of a task that was deleted elsewhere first; `draft` is the task with them applied. */
  | { kind: 'gone'; id: string; draft: Draft }
  /**
   * A write the server refused for good (bad input, no write access), or
   * one of a list the user lost before it was sent. `title`: the task's, when
   * the write does not name it.
   */
  | { kind: 'refused'; write: PendingWrite; reason: string; title?: string }

/** What to do with a sent write after the server answered. */
export type Settled =
  | { outcome: 'applied'; task: Task; outbox: Outbox }
  | { outcome: 'conflict'; notice: ConflictNotice; outbox: Outbox }
  /** CONFLICT, but the write's fields did not clash with the server's changes: what is left of it is queued again on `server`. */
  | { outcome: 'merged'; server: Task; outbox: Outbox }
  /** NOT_FOUND: `dropped` are the write and every later write of the same task, all taken out. */
  | { outcome: 'gone'; dropped: PendingWrite[]; outbox: Outbox }
  | { outcome: 'refused'; reason: string; outbox: Outbox }
  | { outcome: 'retry'; outbox: Outbox }

/** Whether a write is a delete still inside its undo window at `now`. */
export function isHeld(write: PendingWrite, now: number): boolean {
  return write.kind === 'delete' && write.holdUntil !== undefined && write.holdUntil > now
}

/**
 * The write to send next: the first one that is not held, and not queued
 * behind a held write of the same task (writes of one task keep their
 * order; writes of other tasks need not wait out someone else's undo
 * window). null when there is nothing to send now.
 */
export function nextToSend(outbox: Outbox, now: number): PendingWrite | null {
  const waiting = new Set<string>()
  for (const w of outbox.pending) {
    if (waiting.has(w.id)) continue
    if (isHeld(w, now)) waiting.add(w.id)
    else return w
  }
  return null
}

/** When the next held write becomes sendable (epoch ms), or null. */
export function nextRelease(outbox: Outbox, now: number): number | null {
  let next: number | null = null
  for (const w of outbox.pending) {
    if (w.kind === 'delete' && isHeld(w, now) && w.holdUntil !== undefined) next = next === null ? w.holdUntil : Math.min(next, w.holdUntil)
  }
  return next
}

/** Takes a held delete of `id` back out (undo). null when there is none held at `now` (it was sent, or its time is up). */
export function withdraw(outbox: Outbox, id: string, now: number): Outbox | null {
  const index = outbox.pending.findIndex((w) => w.id === id && isHeld(w, now))
  if (index < 0) return null
  return { pending: outbox.pending.filter((_, i) => i !== index) }
}

/** Ends every undo window now (sign-out sends what the user deleted). */
export function releaseHolds(outbox: Outbox, now: number): Outbox {
  return { pending: outbox.pending.map((w) => (w.kind === 'delete' && isHeld(w, now) ? { kind: w.kind, id: w.id, expectedVersion: w.expectedVersion } : w)) }
}

/**
 * Settles a sent write with the server's answer. `sent` is found by
 * identity, or else by value: writes before it may have been withdrawn
 * meanwhile. Only one
 * write is ever in flight, and a task's writes go in order. A network
 * failure or an expired token keeps the write for a retry; a conflict keeps
 * the server's version and returns a notice; NOT_FOUND (the task was
 * deleted elsewhere) takes the task's queued writes out for a notice; bad
 * input takes the write out for a notice.
 */
export function settle(outbox: Outbox, sent: PendingWrite, result: WriteResult): Settled {
  // By identity in the tab that sent it, by value in the stored outbox (shared by tabs).
  let index = outbox.pending.indexOf(sent)
  if (index < 0) index = outbox.pending.findIndex((w) => JSON.stringify(w) === JSON.stringify(sent))
  if (index < 0) return { outcome: 'retry', outbox }
  const rest = { pending: outbox.pending.filter((_, i) => i !== index) }
  if (result.ok) return { outcome: 'applied', task: result.task, outbox: rest }
  switch (result.code) {
    case 'CONFLICT': {
      const server = result.current
      if (sent.kind !== 'update' || server.deleted) return { outcome: 'conflict', notice: { write: sent, server }, outbox: rest }
      const { again, conflicting } = rebaseFields(sent, server)
      const next = { pending: outbox.pending.flatMap((w, i) => (i !== index ? [w] : again ? [again] : [])) }
      return conflicting ? { outcome: 'conflict', notice: { write: conflicting, server }, outbox: next } : { outcome: 'merged', server, outbox: next }
    }
    case 'NETWORK':
    case 'UNAUTHENTICATED':
    case 'INTERNAL':
      return { outcome: 'retry', outbox }
    case 'NOT_FOUND': {
      const dropped = outbox.pending.filter((w, i) => i >= index && w.id === sent.id)
      return { outcome: 'gone', dropped, outbox: { pending: outbox.pending.filter((w, i) => i < index || w.id !== sent.id) } }
    }
    case 'BAD_USER_INPUT':
    case 'FORBIDDEN':
      return { outcome: 'refused', reason: result.message, outbox: rest }
  }
}

/** Settles the outbox's first write (see `settle`). */
export function settleHead(outbox: Outbox, result: WriteResult): Settled {
  const head = outbox.pending[0]
  return head ? settle(outbox, head, result) : { outcome: 'retry', outbox }
}

/**
 * The task as the user last saw it, from the last image held (`base`, a
 * tombstone keeps its fields) and the edits that could not be applied.
 * null when nothing of it is known, or the edits only deleted it.
 */
export function draftOf(base: Task | undefined, writes: readonly PendingWrite[]): Draft | null {
  if (writes.some((w) => w.kind === 'delete')) return null
  let draft: Partial<Draft> = base ? { title: base.title, description: base.description, done: base.done, listId: base.listId } : {}
  for (const w of writes) {
    if (w.kind === 'create') draft = { title: w.title, description: w.description, done: w.done, ...(w.listId !== undefined ? { listId: w.listId } : {}) }
    if (w.kind === 'update') {
      if (w.title !== undefined) draft.title = w.title
      if (w.description !== undefined) draft.description = w.description
      if (w.done !== undefined) draft.done = w.done
      if (w.listId !== undefined) draft.listId = w.listId
    }
  }
  if (!draft.title) return null
  const out: Draft = { title: draft.title, description: draft.description ?? null, done: draft.done ?? false }
  return draft.listId !== undefined ? { ...out, listId: draft.listId } : out
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

const FIELDS = ['title', 'description', 'done', 'listId'] as const

/**
 * Rebases an update that met a newer version on the server, field by
 * field: a field the server already has at the written value is dropped
 * (the same change made twice), a field the server still has as it was
 * (`write.was`) goes on, on top of the server's version, and a field both
 * sides changed, differently, is a conflict. `again` is the write to send
 * again, `conflicting` the part to ask the user about; each null when empty.
 */
export function rebaseFields(write: UpdateWrite, server: Task): { again: UpdateWrite | null; conflicting: UpdateWrite | null } {
  const again: TaskFields = {}
  const clash: TaskFields = {}
  for (const field of FIELDS) {
    const mine = write[field]
    if (mine === undefined || mine === server[field]) continue
    const target = write.was && field in write.was && write.was[field] === server[field] ? again : clash
    Object.assign(target, { [field]: mine })
  }
  const update = (fields: TaskFields, on: { expectedVersion: number; was: TaskFields }): UpdateWrite | null =>
    Object.keys(fields).length === 0 ? null : { kind: 'update', id: write.id, ...on, ...fields }
  return {
    again: update(again, { expectedVersion: server.version, was: fieldsOf(server, again) }),
    conflicting: update(clash, { expectedVersion: write.expectedVersion, was: fieldsOf({ ...server, ...write.was }, clash) }),
  }
}

/** `task`'s values of the fields set in `fields`. */
export function fieldsOf(task: Task, fields: TaskFields): TaskFields {
  const out: TaskFields = {}
  for (const field of FIELDS) if (fields[field] !== undefined) Object.assign(out, { [field]: task[field] })
  return out
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
      const { kind, id, expectedVersion: _, was: _was, ...fields } = write
      return { kind, id, expectedVersion: server.version, ...fields, was: fieldsOf(server, fields) }
    }
  }
}

/** A queued write that can no longer be applied: its task (`listId` absent) or its list left the user's view. */
export interface LostWrite {
  write: PendingWrite
  /** The lost list the write is of; absent when it is the task that left. */
  listId?: string
}

/**
 * The writes of tasks and lists the user lost (unshared, left, deleted,
 * moved out of sight), taken out of the outbox: they can no longer be
 * applied, and each becomes a refused notice (never dropped silently). A
 * write is of a list when the task it writes is in that list then:
 * `listOf` gives each task's list as the replica held it before the loss,
 * and the queued creates and moves ahead of a write move its task. A move
 * out of or into a lost list is one of its writes too.
 */
export function takeLostWrites(
  outbox: Outbox,
  listOf: Readonly<Record<string, string>>,
  lostLists: ReadonlySet<string>,
  lostTasks: ReadonlySet<string> = new Set(),
): { outbox: Outbox; taken: LostWrite[] } {
  if (lostLists.size === 0 && lostTasks.size === 0) return { outbox, taken: [] }
  const where = new Map<string, string | undefined>()
  const listNow = (id: string) => (where.has(id) ? where.get(id) : listOf[id])
  const taken: LostWrite[] = []
  const kept: PendingWrite[] = []
  for (const w of outbox.pending) {
    const from = w.kind === 'create' ? w.listId : listNow(w.id)
    const to = w.kind === 'delete' ? from : (w.listId ?? from)
    where.set(w.id, to)
    const list = [from, to].find((l) => l !== undefined && lostLists.has(l))
    if (list !== undefined) taken.push({ write: w, listId: list })
    else if (lostTasks.has(w.id)) taken.push({ write: w })
    else kept.push(w)
  }
  return taken.length === 0 ? { outbox, taken } : { outbox: { pending: kept }, taken }
}

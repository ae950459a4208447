import { describe, expect, it } from 'vitest'

import { draftOf, emptyOutbox, enqueue, nextToSend, reapply, rebase, rebaseFields, releaseHolds, settle, settleHead, takeLostWrites, withdraw } from './outbox'
import type { PendingWrite, Task } from './types'

const server: Task = { id: 'a', title: 'theirs', description: null, done: false, owner: 'u', createdAt: 'x', updatedAt: 'x', version: 5, deleted: false, listId: 'u' }
const edit: PendingWrite = { kind: 'update', id: 'a', expectedVersion: 3, title: 'mine' }

describe('outbox', () => {
  it('keeps writes in the order they were made', () => {
    let o = emptyOutbox()
    o = enqueue(o, { kind: 'create', id: 'a', title: 't', description: null, done: false })
    o = enqueue(o, edit)
    expect(o.pending.map((w) => w.kind)).toEqual(['create', 'update'])
  })

  it('settles the head: applied, conflict, retry and dropped', () => {
    const o = enqueue(enqueue(emptyOutbox(), edit), { kind: 'delete', id: 'b', expectedVersion: 1 })
    const applied = settleHead(o, { ok: true, task: server })
    expect(applied.outcome).toBe('applied')
    expect(applied.outbox.pending).toHaveLength(1)
    const conflict = settleHead(o, { ok: false, code: 'CONFLICT', current: server })
    expect(conflict).toMatchObject({ outcome: 'conflict', notice: { write: edit, server } })
    expect(conflict.outbox.pending).toHaveLength(1)
    for (const code of ['NETWORK', 'UNAUTHENTICATED', 'INTERNAL'] as const) {
      const retry = settleHead(o, { ok: false, code, message: '' })
      expect(retry.outcome).toBe('retry')
      expect(retry.outbox.pending).toHaveLength(2)
    }
    const refused = settleHead(o, { ok: false, code: 'BAD_USER_INPUT', message: 'too long' })
    expect(refused).toMatchObject({ outcome: 'refused', reason: 'too long' })
    expect(refused.outbox.pending).toHaveLength(1)
  })

  it('takes every queued write of a task deleted elsewhere out together, for one notice', () => {
    let o = enqueue(emptyOutbox(), edit)
    o = enqueue(o, { kind: 'update', id: 'b', expectedVersion: 1, done: true })
    o = enqueue(o, { kind: 'update', id: 'a', expectedVersion: 3, done: true })
    const gone = settle(o, edit, { ok: false, code: 'NOT_FOUND', message: 'gone' })
    expect(gone.outcome).toBe('gone')
    if (gone.outcome !== 'gone') return
    expect(gone.dropped.map((w) => w.id)).toEqual(['a', 'a'])
    expect(gone.outbox.pending.map((w) => w.id)).toEqual(['b'])
    expect(draftOf(server, gone.dropped)).toEqual({ title: 'mine', description: null, done: true, listId: 'u' })
    expect(draftOf(undefined, [{ kind: 'delete', id: 'a', expectedVersion: 1 }])).toBeNull()
  })

  it('holds a delete for its undo window without holding up other tasks, and undo takes it back', () => {
    const held: PendingWrite = { kind: 'delete', id: 'a', expectedVersion: 3, holdUntil: 1_000 }
    let o = enqueue(emptyOutbox(), held)
    o = enqueue(o, { kind: 'update', id: 'a', expectedVersion: 3, done: true })
    o = enqueue(o, edit.id === 'a' ? { kind: 'update', id: 'b', expectedVersion: 1, done: true } : edit)
    expect(nextToSend(o, 500)?.id).toBe('b')
    expect(nextToSend(o, 1_000)).toBe(held)
    expect(withdraw(o, 'a', 500)?.pending.map((w) => w.kind)).toEqual(['update', 'update'])
    expect(withdraw(o, 'a', 1_000)).toBeNull()
    expect(nextToSend(releaseHolds(o, 500), 500)).toEqual({ kind: 'delete', id: 'a', expectedVersion: 3 })
  })

  it('re-applies a conflicting edit on top of the server version', () => {
    expect(reapply({ write: edit, server })).toEqual({ kind: 'update', id: 'a', expectedVersion: 5, title: 'mine', was: { title: 'theirs' } })
    expect(reapply({ write: edit, server: { ...server, deleted: true } })).toBeNull()
    expect(reapply({ write: { kind: 'delete', id: 'a', expectedVersion: 3 }, server })).toEqual({ kind: 'delete', id: 'a', expectedVersion: 5 })
  })
})

describe('rebase', () => {
  it('makes the writes queued for an applied task expect its new version, and leaves others alone', () => {
    let o = enqueue(emptyOutbox(), { kind: 'update', id: 'a', expectedVersion: 0, done: true })
    o = enqueue(o, { kind: 'delete', id: 'a', expectedVersion: 0 })
    o = enqueue(o, { kind: 'update', id: 'b', expectedVersion: 7, done: true })
    const rebased = rebase(o, { ...server, id: 'a', version: 2 })
    expect(rebased.pending.map((w) => (w.kind === 'create' ? null : w.expectedVersion))).toEqual([2, 2, 7])
  })

  describe('a conflict, field by field', () => {
    // The server moved from v3 to v5: someone else renamed the task to 'theirs'.
    const base = { kind: 'update' as const, id: 'a', expectedVersion: 3 }

    it('is no conflict when the other side changed other fields: the write goes on, on the server version', () => {
      const toggle: PendingWrite = { ...base, done: true, was: { done: false } }
      const settled = settleHead(enqueue(emptyOutbox(), toggle), { ok: false, code: 'CONFLICT', current: server })
      expect(settled).toMatchObject({ outcome: 'merged', server })
      expect(settled.outbox.pending).toEqual([{ ...base, expectedVersion: 5, done: true, was: { done: false } }])
    })

    it('is no conflict when both sides made the same change: nothing is left to send', () => {
      const same: PendingWrite = { ...base, title: 'theirs', was: { title: 'before' } }
      const settled = settleHead(enqueue(emptyOutbox(), same), { ok: false, code: 'CONFLICT', current: server })
      expect(settled).toMatchObject({ outcome: 'merged' })
      expect(settled.outbox.pending).toEqual([])
    })

    it('asks only about the fields both sides changed, and sends the rest', () => {
      expect(rebaseFields({ ...base, title: 'mine', done: true, was: { title: 'before', done: false } }, server)).toEqual({
        again: { ...base, expectedVersion: 5, done: true, was: { done: false } },
        conflicting: { ...base, title: 'mine', was: { title: 'before' } },
      })
    })

    it('counts every field as changed on both sides when it does not know what the field was', () => {
      expect(rebaseFields({ ...base, title: 'mine' }, server)).toEqual({ again: null, conflicting: { ...base, title: 'mine', was: { title: 'theirs' } } })
    })
  })

  it('refuses a write the server forbids (a viewer writing) for a notice', () => {
    const o = enqueue(emptyOutbox(), edit)
    expect(settle(o, edit, { ok: false, code: 'FORBIDDEN', message: 'view only' })).toEqual({ outcome: 'refused', reason: 'view only', outbox: emptyOutbox() })
  })

  it('takes out the writes of a lost list: of its tasks, created in it, moved into or out of it, in order', () => {
    const writes: PendingWrite[] = [
      { kind: 'update', id: 'inL', expectedVersion: 1, done: true },
      { kind: 'update', id: 'mine', expectedVersion: 1, done: true },
      { kind: 'create', id: 'new', title: 'new in L', description: null, done: false, listId: 'L' },
      { kind: 'update', id: 'new', expectedVersion: 0, title: 'renamed' },
      { kind: 'create', id: 'personal', title: 'default list', description: null, done: false },
      { kind: 'update', id: 'mine', expectedVersion: 1, listId: 'L' },
      { kind: 'update', id: 'mine', expectedVersion: 2, title: 'after the move' },
      { kind: 'update', id: 'out', expectedVersion: 1, listId: 'u' },
      { kind: 'delete', id: 'other', expectedVersion: 1 },
    ]
    const listOf = { inL: 'L', mine: 'u', out: 'L', other: 'M' }
    const { outbox, taken } = takeLostWrites({ pending: writes }, listOf, new Set(['L']))
    expect(outbox.pending).toEqual([writes[1], writes[4], writes[8]])
    expect(taken.map((t) => t.write)).toEqual([writes[0], writes[2], writes[3], writes[5], writes[6], writes[7]])
    expect(new Set(taken.map((t) => t.listId))).toEqual(new Set(['L']))
    const untouched = { pending: writes }
    expect(takeLostWrites(untouched, listOf, new Set(['Q'])).outbox).toBe(untouched)
    // A task that left the view on its own (REMOVE): its writes, whatever its list.
    const one = takeLostWrites({ pending: writes }, listOf, new Set(), new Set(['other']))
    expect(one.taken).toEqual([{ write: writes[8] }])
    expect(one.outbox.pending).toHaveLength(8)
  })
})

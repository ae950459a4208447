import { describe, expect, it } from 'vitest'

import { emptyOutbox, enqueue, reapply, rebase, settleHead } from './outbox'
import type { PendingWrite, Task } from './types'

const server: Task = { id: 'a', title: 'theirs', description: null, done: false, owner: 'u', createdAt: 'x', updatedAt: 'x', version: 5, deleted: false }
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
    const dropped = settleHead(o, { ok: false, code: 'NOT_FOUND', message: 'gone' })
    expect(dropped).toMatchObject({ outcome: 'dropped', reason: 'gone' })
  })

  it('re-applies a conflicting edit on top of the server version', () => {
    expect(reapply({ write: edit, server })).toEqual({ kind: 'update', id: 'a', expectedVersion: 5, title: 'mine' })
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
})

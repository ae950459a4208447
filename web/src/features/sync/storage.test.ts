import 'fake-indexeddb/auto'

import { describe, expect, it } from 'vitest'

import { enqueue, emptyOutbox } from './outbox'
import { applyChange, emptyReplica } from './replica'
import { openIndexedDbStore } from './storage'

describe('IndexedDB snapshot store', () => {
  it('keeps the replica, its cursor and the outbox across opens', async () => {
    const first = await openIndexedDbStore('tasksync-test-1')
    expect(await first.load()).toBeNull()
    const replica = applyChange(emptyReplica(), { id: 'a', title: 't', description: null, done: true, owner: 'u', createdAt: 'x', updatedAt: 'x', version: 2, deleted: false }, 'c7')
    const outbox = enqueue(emptyOutbox(), { kind: 'delete', id: 'a', expectedVersion: 2 })
    await first.save({ replica, outbox })
    const again = await openIndexedDbStore('tasksync-test-1')
    const loaded = await again.load()
    expect(loaded?.replica.cursor).toBe('c7')
    expect(loaded?.replica.tasks.a?.done).toBe(true)
    expect(loaded?.outbox.pending).toEqual(outbox.pending)
    const other = await openIndexedDbStore('tasksync-test-2')
    expect(await other.load()).toBeNull()
  })
})

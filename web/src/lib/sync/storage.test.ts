import 'fake-indexeddb/auto'

import { describe, expect, it } from 'vitest'

import { enqueue, emptyOutbox } from './outbox'
import { applyChange, emptyReplica } from './replica'
import type { Snapshot } from './storage'
import { openIndexedDbStore, openUserStore, storeName } from './storage'

describe('IndexedDB snapshot store', () => {
  it('keeps the replica, its cursor and the outbox across opens', async () => {
    const first = await openIndexedDbStore('tasksync-test-1')
    expect(await first.load()).toBeNull()
    const replica = applyChange(emptyReplica(), { id: 'a', title: 't', description: null, done: true, owner: 'u', createdAt: 'x', updatedAt: 'x', version: 2, deleted: false, listId: 'u' }, 'c7')
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

  it('moves a replica stored under the old address-based name to the user-id store, in any letter case, and deletes the old one', async () => {
    const replica = applyChange(emptyReplica(), { id: 'a', title: 'kept', description: null, done: false, owner: 'u', createdAt: 'x', updatedAt: 'x', version: 1, deleted: false, listId: 'u' }, 'c1')
    const outbox = enqueue(emptyOutbox(), { kind: 'update', id: 'a', expectedVersion: 1, done: true })
    const legacy = await openIndexedDbStore('tasksync-ann@example.test')
    await legacy.save({ replica, outbox })
    legacy.close?.()

    const store = await openUserStore('user-1', 'Ann@Example.test')
    expect((await store.load())?.outbox.pending).toEqual(outbox.pending)
    expect(storeName('user-1')).toBe('tasksync-user-user-1')
    const names = (await indexedDB.databases()).map((d) => d.name)
    expect(names).toContain('tasksync-user-user-1')
    expect(names).not.toContain('tasksync-ann@example.test')
    store.close?.()
  })

  it('leaves a user-id store that already has a replica as it is', async () => {
    const mine = await openIndexedDbStore(storeName('user-2'))
    await mine.save({ replica: { ...emptyReplica(), cursor: 'c9' }, outbox: emptyOutbox() })
    mine.close?.()
    const legacy = await openIndexedDbStore('tasksync-bo@example.test')
    await legacy.save({ replica: { ...emptyReplica(), cursor: 'c1' }, outbox: emptyOutbox() })
    legacy.close?.()

    const store = await openUserStore('user-2', 'bo@example.test')
    expect((await store.load())?.replica.cursor).toBe('c9')
    store.close?.()
  })

  it('changes the outbox by read-modify-write, keeping what another tab stored meanwhile', async () => {
    const one = await openIndexedDbStore('tasksync-test-shared')
    const two = await openIndexedDbStore('tasksync-test-shared')
    const add = (id: string) => (s: Snapshot | null): Snapshot => ({ replica: emptyReplica(), outbox: enqueue(s?.outbox ?? emptyOutbox(), { kind: 'delete', id, expectedVersion: 1 }) })
    await Promise.all([one.update(add('a')), two.update(add('b'))])
    expect((await one.load())?.outbox.pending.map((w) => w.id)).toEqual(['a', 'b'])
  })
})


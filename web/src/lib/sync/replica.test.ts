import { describe, expect, it } from 'vitest'

import { applyChange, applyStreamChange, applySyncPage, applyTask, emptyReplica, fromStored, lostLists, visibleLists, visibleTasks } from './replica'
import type { Replica } from './replica'
import type { Task, TaskList } from './types'

const task = (id: string, version: number, extra: Partial<Task> = {}): Task => ({
  id,
  title: `task ${id}`,
  description: null,
  done: false,
  owner: 'u',
  listId: 'u',
  createdAt: `2026-01-01T00:00:00.00${id.length}Z`,
  updatedAt: '2026-01-01T00:00:00.000Z',
  version,
  deleted: false,
  ...extra,
})

describe('replica', () => {
  it('applies a task only when its version is newer than the one held', () => {
    let r = applyTask(emptyReplica(), task('a', 2, { title: 'v2' }))
    r = applyTask(r, task('a', 1, { title: 'v1' }))
    expect(r.tasks.a?.title).toBe('v2')
    r = applyTask(r, task('a', 2, { title: 'again' }))
    expect(r.tasks.a?.title).toBe('v2')
    r = applyTask(r, task('a', 3, { title: 'v3' }))
    expect(r.tasks.a?.title).toBe('v3')
  })

  it('keeps tombstones, hides them, and never lets an older image resurrect a deleted task', () => {
    let r = applyChange(emptyReplica(), task('a', 1), 'c1')
    r = applyChange(r, task('a', 2, { deleted: true }), 'c2')
    r = applyTask(r, task('a', 1))
    expect(r.tasks.a?.deleted).toBe(true)
    expect(visibleTasks(r)).toEqual([])
    expect(r.cursor).toBe('c2')
  })

  it('a full sync replaces the copy and moves the cursor only after its last page', () => {
    let r = applyChange(emptyReplica(), task('gone', 3), 'c3')
    r = applySyncPage(r, { items: [task('a', 1)], fullSync: true, cursor: 'c9', nextToken: 'p2' }, true)
    expect(Object.keys(r.tasks)).toEqual(['a'])
    expect(r.cursor).toBe('c3')
    r = applySyncPage(r, { items: [task('b', 1)], fullSync: true, cursor: 'c9', nextToken: null }, false)
    expect(Object.keys(r.tasks).sort()).toEqual(['a', 'b'])
    expect(r.cursor).toBe('c9')
  })

  it('a delta sync keeps what it does not mention and applies tombstones', () => {
    let r = applyChange(applyChange(emptyReplica(), task('a', 1), 'c1'), task('b', 1), 'c2')
    r = applySyncPage(r, { items: [task('b', 2, { deleted: true })], fullSync: false, cursor: 'c4', nextToken: null }, true)
    expect(visibleTasks(r).map((t) => t.id)).toEqual(['a'])
    expect(r.cursor).toBe('c4')
  })

  it('shows live tasks oldest first', () => {
    let r = emptyReplica()
    for (const t of [task('ccc', 1), task('a', 1), task('bb', 1)]) r = applyTask(r, t)
    expect(visibleTasks(r).map((t) => t.id)).toEqual(['a', 'bb', 'ccc'])
  })

  it('takes a task back that left by a move, at the version of its tombstone, once it is in view in its new list', () => {
    // Seen in L at v1; moved to M (which this user cannot see) while away: a
    // delta sync gives a tombstone at the move's version, in L.
    let r = applyTask(emptyReplica(), task('t', 1, { listId: 'L' }))
    r = applySyncPage(r, { items: [task('t', 2, { listId: 'L', deleted: true })], fullSync: false, cursor: 'c2', nextToken: null }, true)
    expect(visibleTasks(r)).toEqual([])
    // M is shared with the user: the task comes back at that same version.
    r = applySyncPage(r, { items: [task('t', 2, { listId: 'M' })], fullSync: false, cursor: 'c3', nextToken: null }, true)
    expect(visibleTasks(r).map((t) => [t.id, t.listId, t.version])).toEqual([['t', 'M', 2]])
    // An older image never wins, and a tombstone of the same list stays.
    expect(applyTask(r, task('t', 1, { listId: 'L' }))).toBe(r)
    const gone = applyTask(emptyReplica(), task('x', 2, { listId: 'L', deleted: true }))
    expect(applyTask(gone, task('x', 2, { listId: 'L' }))).toBe(gone)
  })

  describe('lists', () => {
    const list = (id: string, version = 1, extra: Partial<TaskList> = {}): TaskList => ({
      id,
      name: `list ${id}`,
      personal: false,
      role: 'EDITOR',
      members: [],
      version,
      deleted: false,
      createdAt: `2026-01-0${id.length}T00:00:00.000Z`,
      updatedAt: '2026-01-01T00:00:00.000Z',
      ...extra,
    })
    /** Personal list u with task p; shared list L with tasks a (live) and d (a tombstone). */
    const start = (): Replica => {
      let r = applyStreamChange(emptyReplica(), { op: 'CREATE', task: null, list: list('u', 1, { personal: true, role: 'OWNER' }), cursor: 'c1' })
      r = applyStreamChange(r, { op: 'CREATE', task: null, list: list('L'), cursor: 'c2' })
      r = applyChange(r, task('p', 1), 'c3')
      r = applyChange(r, task('a', 1, { listId: 'L' }), 'c4')
      r = applyChange(r, task('d', 2, { listId: 'L', deleted: true }), 'c5')
      return r
    }

    it('drops a task on REMOVE whatever version it holds, so a later move-in with a lower version applies', () => {
      let r = applyStreamChange(start(), { op: 'REMOVE', task: task('a', 9, { listId: 'L', deleted: true }), cursor: 'c6' })
      expect(r.tasks.a).toBeUndefined()
      expect(r.cursor).toBe('c6')
      // A REMOVE tombstone with a version lower than the one held drops it too.
      r = applyChange(r, task('a', 5, { listId: 'L' }), 'c7')
      r = applyStreamChange(r, { op: 'REMOVE', task: task('a', 2, { listId: 'L', deleted: true }), cursor: 'c8' })
      expect(r.tasks.a).toBeUndefined()
      // Moved back in at its own (lower) version: shown.
      r = applyStreamChange(r, { op: 'CREATE', task: task('a', 1, { listId: 'L', title: 'back' }), cursor: 'c9' })
      expect(visibleTasks(r).map((t) => t.title)).toContain('back')
    })

    it('a list REMOVE or DELETE drops the list and every task of it, tombstones included, and nothing else', () => {
      for (const op of ['REMOVE', 'DELETE'] as const) {
        const r = applyStreamChange(start(), { op, task: null, list: list('L', 2, { deleted: true }), cursor: 'c6' })
        expect(Object.keys(r.lists), op).toEqual(['u'])
        expect(Object.keys(r.tasks), op).toEqual(['p'])
        expect(lostLists(start(), r), op).toEqual(new Set(['L']))
      }
    })

    it('a list comes back after it was lost, and so do its tasks at their own versions', () => {
      let r = applyStreamChange(start(), { op: 'REMOVE', task: null, list: list('L', 3, { deleted: true }), cursor: 'c6' })
      r = applyStreamChange(r, { op: 'CREATE', task: null, list: list('L', 2), cursor: 'c7' })
      r = applyStreamChange(r, { op: 'CREATE', task: task('a', 1, { listId: 'L' }), cursor: 'c8' })
      expect(visibleLists(r).map((l) => l.id)).toEqual(['u', 'L'])
      expect(visibleTasks(r).map((t) => t.id)).toEqual(['a', 'p'])
    })

    it('applies a list change (rename, role) only when newer', () => {
      let r = applyStreamChange(start(), { op: 'UPDATE', task: null, list: list('L', 3, { role: 'VIEWER' }), cursor: 'c6' })
      r = applyStreamChange(r, { op: 'UPDATE', task: null, list: list('L', 2, { name: 'older' }), cursor: 'c7' })
      expect(r.lists.L).toMatchObject({ role: 'VIEWER', name: 'list L', version: 3 })
    })

    it('a full sync replaces the lists too; lists count on the first page only', () => {
      let r = applySyncPage(start(), { items: [task('p', 1)], lists: [list('u', 1, { personal: true })], fullSync: true, cursor: 'c9', nextToken: 'p2' }, true)
      r = applySyncPage(r, { items: [], lists: [list('X')], fullSync: true, cursor: 'c9', nextToken: null }, false)
      expect(Object.keys(r.lists)).toEqual(['u'])
      expect(Object.keys(r.tasks)).toEqual(['p'])
    })

    it('a delta sync with a list tombstone drops the list and its tasks, and drops tombstones of tasks outside the lists held', () => {
      const r = applySyncPage(
        start(),
        {
          items: [task('a', 2, { listId: 'L', deleted: true }), task('p', 2, { deleted: true }), task('x', 4, { listId: 'Z', deleted: true })],
          lists: [list('L', 2, { deleted: true })],
          fullSync: false,
          cursor: 'c9',
          nextToken: null,
        },
        true,
      )
      expect(Object.keys(r.lists)).toEqual(['u'])
      // The delete in the personal list is kept as a tombstone; the others are not kept at all.
      expect(Object.keys(r.tasks)).toEqual(['p'])
      expect(r.tasks.p?.deleted).toBe(true)
    })

    it('shows the personal list first, then the others oldest first', () => {
      let r = emptyReplica()
      for (const l of [list('ccc'), list('a'), list('bbbb', 1, { personal: true })]) r = applyStreamChange(r, { op: 'CREATE', task: null, list: l, cursor: 'c1' })
      expect(visibleLists(r).map((l) => l.id)).toEqual(['bbbb', 'a', 'ccc'])
    })

    it('a replica stored before lists is kept on screen, its tasks in their owner\'s personal list, and syncs in full', () => {
      const { listId: _, ...old } = task('p', 3, { owner: 'me' })
      const r = fromStored({ tasks: { p: old as Task }, cursor: 'c40' })
      expect(r).toEqual({ tasks: { p: { ...old, listId: 'me' } }, lists: {}, cursor: null })
      expect(fromStored(start())).toEqual(start())
    })
  })
})

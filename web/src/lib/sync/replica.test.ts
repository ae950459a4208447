import { describe, expect, it } from 'vitest'

import { applyChange, applySyncPage, applyTask, emptyReplica, visibleTasks } from './replica'
import type { Task } from './types'

const task = (id: string, version: number, extra: Partial<Task> = {}): Task => ({
  id,
  title: `task ${id}`,
  description: null,
  done: false,
  owner: 'u',
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
})

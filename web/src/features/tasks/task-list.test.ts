import { describe, expect, it } from 'vitest'

import type { Task } from '../../lib/sync/types'
import { conflictSides, countTasks, editOf, emptyMessage, filterTasks, parseFilter } from './task-list'

const task = (id: string, done: boolean, version = 1): Task => ({
  id,
  title: `task ${id}`,
  description: null,
  done,
  owner: 'u',
  listId: 'u',
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  version,
  deleted: false,
})

describe('task list helpers', () => {
  const tasks = [task('a', false), task('b', true), task('c', false), task('d', true)]

  it('filters all, active and done, keeping order', () => {
    expect(filterTasks(tasks, 'all').map((t) => t.id)).toEqual(['a', 'b', 'c', 'd'])
    expect(filterTasks(tasks, 'active').map((t) => t.id)).toEqual(['a', 'c'])
    expect(filterTasks(tasks, 'done').map((t) => t.id)).toEqual(['b', 'd'])
  })

  it('leaves hidden tasks (deletes waiting for undo) out of lists and counts', () => {
    const hidden = new Set(['a', 'b'])
    expect(filterTasks(tasks, 'all', hidden).map((t) => t.id)).toEqual(['c', 'd'])
    expect(countTasks(tasks, hidden)).toEqual({ all: 2, active: 1, done: 1 })
  })

  it('counts every filter', () => {
    expect(countTasks(tasks)).toEqual({ all: 4, active: 2, done: 2 })
    expect(countTasks([])).toEqual({ all: 0, active: 0, done: 0 })
  })

  it('reads the filter from the address, unknown or missing meaning all', () => {
    expect(parseFilter('done')).toBe('done')
    expect(parseFilter('active')).toBe('active')
    expect(parseFilter('all')).toBe('all')
    expect(parseFilter(undefined)).toBe('all')
    expect(parseFilter('DONE')).toBe('all')
  })

  it('has an empty state for each filter', () => {
    expect(emptyMessage('all', { all: 0, active: 0, done: 0 })).toMatch(/no tasks yet/i)
    expect(emptyMessage('active', { all: 2, active: 0, done: 2 })).toMatch(/nothing left/i)
    expect(emptyMessage('done', { all: 2, active: 2, done: 0 })).toMatch(/no finished/i)
  })

})

describe('editOf', () => {
  const base = { ...task('a', false), title: 'Plan', description: 'Oslo' }
  it('keeps only the fields the typed text changes, trimmed', () => {
    expect(editOf(base, '  Plan ', 'Oslo')).toEqual({})
    expect(editOf(base, 'Plan the trip', ' Oslo ')).toEqual({ title: 'Plan the trip' })
    expect(editOf(base, 'Plan', '  ')).toEqual({ description: null })
  })
})

describe('conflictSides', () => {
  it("shows each field both sides changed with the user's and the server's value", () => {
    const server = { ...task('a', true), title: 'Rome', description: null }
    expect(conflictSides({ write: { kind: 'update', id: 'a', expectedVersion: 1, title: 'Oslo', description: 'by train', done: false }, server })).toEqual([
      { field: 'Title', mine: 'Oslo', theirs: 'Rome' },
      { field: 'Description', mine: 'by train', theirs: '(none)' },
      { field: 'Done', mine: 'no', theirs: 'yes' },
    ])
    expect(conflictSides({ write: { kind: 'delete', id: 'a', expectedVersion: 1 }, server })).toEqual([])
  })
})


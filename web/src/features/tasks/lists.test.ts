import { describe, expect, it } from 'vitest'

import type { Task, TaskList } from '../../lib/sync/types'
import { canLeave, canManage, canRename, canWrite, emailError, listActionError, listNameError, openCounts, selectList, sharedBy } from './lists'

const list = (id: string, extra: Partial<TaskList> = {}): TaskList => ({
  id,
  name: `list ${id}`,
  personal: false,
  role: 'OWNER',
  members: [{ email: 'ann@example.test', role: 'OWNER', pending: false }],
  version: 1,
  deleted: false,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  ...extra,
})

const task = (id: string, listId: string, done = false): Task => ({
  id,
  title: id,
  description: null,
  done,
  owner: 'u',
  listId,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  version: 1,
  deleted: false,
})

describe('lists', () => {
  const personal = list('me', { personal: true, name: 'Personal' })
  const shared = list('trip', { role: 'EDITOR', members: [{ email: 'bo@example.test', role: 'OWNER', pending: false }] })

  it('shows the list named in the address, else the personal list, else none until lists are known', () => {
    expect(selectList([personal, shared], 'trip', 'me')).toBe(shared)
    expect(selectList([personal, shared], undefined, 'me')).toBe(personal)
    expect(selectList([personal, shared], 'lost-or-made-up', 'me')).toBe(personal)
    expect(selectList([], 'trip', 'me')).toBeNull()
  })

  it('marks a list someone else owns with its owner, and lets each role do what the contract allows', () => {
    expect(sharedBy(shared)).toBe('bo@example.test')
    expect(sharedBy(personal)).toBeNull()
    const viewer = { ...shared, role: 'VIEWER' as const }
    expect([canWrite(personal), canWrite(shared), canWrite(viewer), canWrite(null)]).toEqual([true, true, false, true])
    expect([canRename(personal), canRename(shared), canRename(list('mine'))]).toEqual([true, false, true])
    expect([canManage(personal), canManage(shared), canManage(list('mine'))]).toEqual([false, false, true])
    expect([canLeave(personal), canLeave(shared), canLeave(viewer), canLeave(list('mine'))]).toEqual([false, true, true, false])
  })

  it('counts open tasks per list', () => {
    expect(openCounts([task('a', 'me'), task('b', 'me', true), task('c', 'trip'), task('d', 'me')])).toEqual({ me: 2, trip: 1 })
  })

  it('checks names and addresses before asking the server, and says what a failure means', () => {
    expect(listNameError('  ')).toMatch(/name/)
    expect(listNameError('x'.repeat(101))).toMatch(/100/)
    expect(listNameError(' Trip ')).toBeNull()
    expect(emailError('')).not.toBeNull()
    expect(emailError('bo at example')).not.toBeNull()
    expect(emailError(' bo@example.test ')).toBeNull()
    expect(listActionError({ ok: false, code: 'NETWORK', message: 'x' })).toMatch(/offline/)
    expect(listActionError({ ok: false, code: 'FORBIDDEN', message: 'x' })).toMatch(/owner/)
    expect(listActionError({ ok: false, code: 'BAD_USER_INPUT', message: 'a list has at most 100 members' })).toBe('A list has at most 100 members')
    expect(listActionError({ ok: false, code: 'INTERNAL', message: 'secret detail' })).not.toMatch(/secret/)
  })
})

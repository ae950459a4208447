import { describe, expect, it } from 'vitest'

import { expectedVersion } from './expected-version'
import type { PendingWrite, Task } from './types'

const task = (id: string, version: number): Task => ({
  id,
  title: id,
  description: null,
  done: false,
  owner: 'u',
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  version,
  deleted: false,
})

describe('expected version', () => {
  it('is the version after the writes of the same task still waiting in the outbox', () => {
    const pending: PendingWrite[] = [
      { kind: 'create', id: 'n', title: 'new', description: null, done: false },
      { kind: 'update', id: 'a', expectedVersion: 3, done: true },
      { kind: 'update', id: 'n', expectedVersion: 1, title: 'renamed' },
    ]
    expect(expectedVersion(task('a', 3), pending)).toBe(4)
    expect(expectedVersion(task('n', 0), pending)).toBe(2)
    expect(expectedVersion(task('z', 7), pending)).toBe(7)
  })
})

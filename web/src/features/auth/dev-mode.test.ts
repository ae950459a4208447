import { describe, expect, it } from 'vitest'

import { askDevMode } from './dev-mode'
import type { KeyValue } from './session'

function memory(): KeyValue & { data: Map<string, string> } {
  const data = new Map<string, string>()
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v), removeItem: (k) => void data.delete(k) }
}

describe('dev mode', () => {
  it('is on when the server routes /dev/mailbox, off when it answers 404, and remembered for offline starts', async () => {
    const storage = memory()
    const answer = (status: number): typeof fetch => async (_url, init) => {
      expect(init?.method).toBe('HEAD')
      return new Response(null, { status })
    }
    const offline: typeof fetch = async () => {
      throw new TypeError('failed to fetch')
    }
    expect(await askDevMode(offline, storage)).toBe(false)
    expect(await askDevMode(answer(200), storage)).toBe(true)
    expect(await askDevMode(offline, storage)).toBe(true)
    expect(await askDevMode(answer(404), storage)).toBe(false)
    expect(await askDevMode(offline, storage)).toBe(false)
  })
})

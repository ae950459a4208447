import { afterEach, describe, expect, it, vi } from 'vitest'

import type { AuthClient } from '../../lib/auth'
import { AuthError } from '../../lib/auth'
import { readStoredSession, refreshRetryMs, SessionController, STORAGE_KEY, writeStoredSession } from './session'

function memoryStorage(initial: Record<string, string> = {}) {
  const data = new Map(Object.entries(initial))
  return {
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => void data.set(k, v),
    removeItem: (k: string) => void data.delete(k),
    data,
  }
}

describe('stored session', () => {
  it('round-trips the e-mail and refresh token, and nothing else', () => {
    const storage = memoryStorage()
    writeStoredSession(storage, { email: 'a@example.com', refreshToken: 'r1', accessToken: 'secret' } as never)
    expect(JSON.parse(storage.data.get(STORAGE_KEY) ?? '')).toEqual({ email: 'a@example.com', refreshToken: 'r1' })
    expect(readStoredSession(storage)).toEqual({ email: 'a@example.com', refreshToken: 'r1' })
    writeStoredSession(storage, null)
    expect(readStoredSession(storage)).toBeNull()
  })

  it.each([['not json'], ['null'], ['{"email":"a@example.com"}'], ['{"email":"","refreshToken":"r"}'], ['{"email":1,"refreshToken":"r"}']])(
    'treats a malformed value (%s) as no session',
    (raw) => {
      expect(readStoredSession(memoryStorage({ [STORAGE_KEY]: raw }))).toBeNull()
    },
  )

  it('survives a storage that throws', () => {
    const broken = {
      getItem: () => {
        throw new Error('denied')
      },
      setItem: () => {
        throw new Error('full')
      },
      removeItem: () => {
        throw new Error('denied')
      },
    }
    expect(readStoredSession(broken)).toBeNull()
    expect(() => writeStoredSession(broken, { email: 'a@example.com', refreshToken: 'r' })).not.toThrow()
  })

  it('retries refreshes after Retry-After when given, else with a capped doubling delay', () => {
    expect(refreshRetryMs(0, 7)).toBe(7000)
    expect(refreshRetryMs(0, null)).toBe(2000)
    expect(refreshRetryMs(1, null)).toBe(4000)
    expect(refreshRetryMs(5, null)).toBe(60_000)
    expect(refreshRetryMs(50, 0)).toBe(60_000)
  })
})

describe('session controller', () => {
  const tokens = (n: number, expiresIn = 900) => ({ accessToken: `a${n}`, idToken: `i${n}`, refreshToken: `r${n}`, expiresIn, tokenType: 'Bearer' as const })

  function setup(stored: Record<string, string>, refresh: (token: string) => Promise<ReturnType<typeof tokens>>) {
    const storage = memoryStorage(stored)
    let signedOut = 0
    const client = {
      refresh,
      signIn: async () => tokens(1),
      signOut: async () => ({ ok: true as const }),
    } as unknown as AuthClient
    const controller = new SessionController({ client, storage, lock: (fn) => fn(), onSignedOut: () => void signedOut++ })
    return { storage, controller, signedOut: () => signedOut }
  }

  afterEach(() => {
    vi.useRealTimers()
  })

  it('refreshes once at start when only a refresh token is stored, then before expiry, rotating the stored token', async () => {
    vi.useFakeTimers()
    const seen: string[] = []
    let n = 1
    const { storage, controller } = setup({ [STORAGE_KEY]: JSON.stringify({ email: 'a@example.com', refreshToken: 'r0' }) }, async (t) => {
      seen.push(t)
      return tokens(n++)
    })
    expect(controller.snapshot().session).toMatchObject({ status: 'signed-in', accessToken: null })
    expect(controller.accessToken()).toBe('')
    controller.start()
    controller.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(seen).toEqual(['r0'])
    expect(controller.accessToken()).toBe('a1')
    expect(readStoredSession(storage)).toEqual({ email: 'a@example.com', refreshToken: 'r1' })
    await vi.advanceTimersByTimeAsync(839_000)
    expect(seen).toEqual(['r0'])
    await vi.advanceTimersByTimeAsync(1_000)
    expect(seen).toEqual(['r0', 'r1'])
    expect(controller.accessToken()).toBe('a2')
    controller.stop()
  })

  it('ends the session and forgets it on a 401, with a notice', async () => {
    const { storage, controller, signedOut } = setup({ [STORAGE_KEY]: JSON.stringify({ email: 'a@example.com', refreshToken: 'r0' }) }, async () => {
      throw new AuthError(401, 'NotAuthorized', 'revoked')
    })
    await controller.refresh()
    expect(controller.snapshot().session.status).toBe('signed-out')
    expect(controller.snapshot().notice).toMatch(/session has ended/)
    expect(readStoredSession(storage)).toBeNull()
    expect(signedOut()).toBe(1)
  })

  it('keeps the session and retries when the server cannot be reached', async () => {
    vi.useFakeTimers()
    let calls = 0
    const { controller } = setup({ [STORAGE_KEY]: JSON.stringify({ email: 'a@example.com', refreshToken: 'r0' }) }, async () => {
      calls++
      if (calls === 1) throw new AuthError(0, 'NetworkError', 'offline')
      return tokens(5)
    })
    controller.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(controller.snapshot().session.status).toBe('signed-in')
    expect(controller.accessToken()).toBe('')
    await vi.advanceTimersByTimeAsync(2_000)
    expect(calls).toBe(2)
    expect(controller.accessToken()).toBe('a5')
    controller.stop()
  })

  it('signs in, stores only the refresh token and e-mail, and signs out', async () => {
    const { storage, controller } = setup({}, async () => tokens(9))
    expect(controller.snapshot().session.status).toBe('signed-out')
    await controller.signIn('b@example.com', 'correct horse battery staple')
    expect(controller.accessToken()).toBe('a1')
    expect(JSON.parse(storage.data.get(STORAGE_KEY) ?? '')).toEqual({ email: 'b@example.com', refreshToken: 'r1' })
    await controller.signOut()
    expect(controller.snapshot()).toEqual({ session: { status: 'signed-out' }, notice: null })
    expect(storage.data.has(STORAGE_KEY)).toBe(false)
  })

  it('follows a sign-out in another tab', () => {
    const { storage, controller } = setup({ [STORAGE_KEY]: JSON.stringify({ email: 'a@example.com', refreshToken: 'r0' }) }, async () => tokens(1))
    storage.data.delete(STORAGE_KEY)
    controller.storageChanged()
    expect(controller.snapshot().session.status).toBe('signed-out')
  })
})

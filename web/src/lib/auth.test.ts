import { describe, expect, it } from 'vitest'

import { AuthClient, AuthError, refreshDelayMs, tokenSubject } from './auth'

describe('auth client', () => {
  it('refreshes a minute before expiry, or at half-life for tokens under two minutes', () => {
    expect(refreshDelayMs(900)).toBe(840_000)
    expect(refreshDelayMs(120)).toBe(60_000)
    expect(refreshDelayMs(100)).toBe(50_000)
    expect(refreshDelayMs(10)).toBe(5_000)
    expect(refreshDelayMs(-5)).toBe(0)
  })

  it('turns error answers into typed errors with Retry-After', async () => {
    const fake: typeof fetch = async () =>
      new Response(JSON.stringify({ error: { code: 'TooManyRequests', message: 'slow down' } }), { status: 429, headers: { 'retry-after': '7' } })
    const error = await new AuthClient('', fake).signIn('a@example.com', 'x').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AuthError)
    expect(error).toMatchObject({ status: 429, code: 'TooManyRequests', retryAfter: 7, message: 'slow down' })
    const offline: typeof fetch = async () => {
      throw new TypeError('failed to fetch')
    }
    await expect(new AuthClient('', offline).me('t')).rejects.toMatchObject({ code: 'NetworkError' })
  })
})

describe('tokenSubject', () => {
  /** A JWT with `claims` as its payload, base64url without padding (the signature is not checked). */
  const jwt = (claims: unknown) => `e30.${btoa(JSON.stringify(claims)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}.sig`

  it("reads the user id from the access token's payload, base64url included", () => {
    expect(tokenSubject(jwt({ sub: '0191c1a2-7e5b-7c3d-9f00-aa??>>~~' }))).toBe('0191c1a2-7e5b-7c3d-9f00-aa??>>~~')
    expect(tokenSubject(jwt({ sub: 'u1', aud: 'x' }))).toBe('u1')
  })

  it('is null for a token that is not a JWT or has no string subject', () => {
    for (const token of ['', 'not a token', 'a.!!!.c', jwt({}), jwt({ sub: '' }), jwt({ sub: 42 }), jwt('sub')]) expect(tokenSubject(token), token).toBeNull()
  })
})


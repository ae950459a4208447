import { describe, expect, it } from 'vitest'

import { AuthError } from '../../lib/auth'
import { authErrorMessage, formatWait } from './error-messages'

describe('auth error messages', () => {
  const codes = ['InvalidParameter', 'InvalidPassword', 'CodeMismatch', 'NotAuthorized', 'UserNotConfirmed', 'UserDisabled', 'IncorrectPassword', 'MethodNotAllowed', 'NetworkError']

  it.each(codes)('every known code (%s) has its own clear text, not the server message', (code) => {
    const text = authErrorMessage(new AuthError(400, code, 'server words'))
    expect(text).not.toContain('server words')
    expect(text.length).toBeGreaterThan(10)
  })

  it('says how long to wait after TooManyRequests', () => {
    expect(authErrorMessage(new AuthError(429, 'TooManyRequests', 'slow down', 7))).toBe('Too many attempts. Try again in 7 seconds.')
    expect(authErrorMessage(new AuthError(429, 'TooManyRequests', 'slow down', 61))).toBe('Too many attempts. Try again in 2 minutes.')
    expect(authErrorMessage(new AuthError(429, 'TooManyRequests', 'slow down'))).toMatch(/wait a little/i)
  })

  it('falls back to the server message for unknown codes, and to a generic text for other errors', () => {
    expect(authErrorMessage(new AuthError(418, 'Teapot', 'short and stout'))).toBe('Short and stout.')
    expect(authErrorMessage(new AuthError(418, 'Teapot', ''))).toBe('The request failed (418).')
    expect(authErrorMessage(new Error('boom'))).toMatch(/went wrong/)
  })

  it('formats waits in seconds under a minute, then whole minutes rounded up', () => {
    expect(formatWait(0)).toBe('1 second')
    expect(formatWait(1)).toBe('1 second')
    expect(formatWait(59.2)).toBe('1 minute')
    expect(formatWait(59)).toBe('59 seconds')
    expect(formatWait(60)).toBe('1 minute')
    expect(formatWait(900)).toBe('15 minutes')
  })
})

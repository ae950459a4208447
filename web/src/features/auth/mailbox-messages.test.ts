import { describe, expect, it } from 'vitest'

import { codeScreen, extractCode, parseMailbox } from './mailbox-messages'

describe('dev mailbox', () => {
  it('lists well-formed messages newest first and skips the rest', () => {
    const json = [
      { to: 'a@example.com', subject: 'first', text: 'x', sentAt: '2026-01-01T00:00:00Z' },
      'junk',
      null,
      { to: 'b@example.com', subject: 'no text' },
      { to: 'c@example.com', subject: 'second', text: 'y', sentAt: '2026-01-01T00:01:00Z' },
    ]
    expect(parseMailbox(json).map((m) => m.subject)).toEqual(['second', 'first'])
    expect(parseMailbox({ not: 'an array' })).toEqual([])
  })

  it('finds the 6-digit code and nothing longer or shorter', () => {
    expect(extractCode('Your tasksync verification code is 012345.\n\nIt is valid for 24 hours.')).toBe('012345')
    expect(extractCode('Confirm it with the code 987654, then sign in')).toBe('987654')
    expect(extractCode('Someone tried to sign up at 1234567 or 12345')).toBeNull()
    expect(extractCode('no code here')).toBeNull()
  })

  it('sends reset codes to /reset and sign-up codes to /confirm', () => {
    expect(codeScreen('Your tasksync password reset code')).toBe('/reset')
    expect(codeScreen('Your tasksync verification code')).toBe('/confirm')
  })
})

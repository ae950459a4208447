// What each /auth error code means for the person at the form. The server's
// own `message` is a fallback for codes this table does not know.

import { AuthError } from '../../lib/auth'

const MESSAGES: Readonly<Record<string, string>> = {
  InvalidParameter: 'Please check the fields: something is missing or not in the right format.',
  InvalidPassword: 'Choose a stronger password: 8 to 256 characters, and not a common or easily guessed one.',
  CodeMismatch: 'That code is not right, or it has expired. Check the latest e-mail, or ask for a new code.',
  PasswordRequired: 'This address was signed up more than once. Enter the password you chose when you signed up, with the code.',
  PasswordMismatch: 'The code is right, but the address was signed up again since, with another password. Sign up again with your password, then use the code of that e-mail.',
  NotAuthorized: 'Wrong e-mail address or password.',
  UserNotConfirmed: 'This account is not confirmed yet. Enter the code we e-mailed you.',
  UserDisabled: 'This account has been disabled.',
  IncorrectPassword: 'Your current password is not correct.',
  TooManyRequests: 'Too many attempts.',
  MethodNotAllowed: 'The server refused this request.',
  NetworkError: 'The server cannot be reached. Check your connection and try again.',
  Internal: 'Something went wrong on the server. Please try again.',
}

/** "5 seconds", "1 minute", "3 minutes" — rounded up to whole minutes past one minute. */
export function formatWait(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds))
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`
  const m = Math.ceil(s / 60)
  return m === 1 ? '1 minute' : `${m} minutes`
}

/** The text to show next to a form for an error of an /auth call (or anything else thrown). */
export function authErrorMessage(error: unknown): string {
  if (!(error instanceof AuthError)) return MESSAGES.Internal ?? 'Something went wrong.'
  if (error.code === 'TooManyRequests') {
    return error.retryAfter !== null && Number.isFinite(error.retryAfter)
      ? `Too many attempts. Try again in ${formatWait(error.retryAfter)}.`
      : 'Too many attempts. Wait a little, then try again.'
  }
  const known = MESSAGES[error.code]
  if (known) return known
  return error.message ? capitalise(error.message) : `The request failed (${error.status}).`
}

function capitalise(text: string): string {
  const t = text.trim()
  const first = t.charAt(0).toUpperCase() + t.slice(1)
  return /[.!?]$/.test(first) ? first : `${first}.`
}

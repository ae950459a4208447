import { describe, expect, it } from 'vitest'

import { resolveRoute } from './routes'

describe('routes', () => {
  const cases: [string, boolean, ReturnType<typeof resolveRoute>][] = [
    ['/', false, { kind: 'redirect', to: '/sign-in' }],
    ['/', true, { kind: 'redirect', to: '/tasks' }],
    ['/tasks', false, { kind: 'redirect', to: '/sign-in' }],
    ['/account', false, { kind: 'redirect', to: '/sign-in' }],
    ['/sign-in', true, { kind: 'redirect', to: '/tasks' }],
    ['/confirm', true, { kind: 'redirect', to: '/tasks' }],
    ['/nowhere', true, { kind: 'redirect', to: '/tasks' }],
    ['/nowhere', false, { kind: 'redirect', to: '/sign-in' }],
    ['/sign-up', false, { kind: 'screen', path: '/sign-up' }],
    ['/reset', false, { kind: 'screen', path: '/reset' }],
    ['/tasks', true, { kind: 'screen', path: '/tasks' }],
    ['/account', true, { kind: 'screen', path: '/account' }],
    ['/mailbox', true, { kind: 'screen', path: '/mailbox' }],
    ['/mailbox', false, { kind: 'screen', path: '/mailbox' }],
  ]
  it.each(cases)('%s (signed in: %s) resolves as expected', (path, signedIn, expected) => {
    expect(resolveRoute(path, signedIn)).toEqual(expected)
  })
})

// Which screen a path shows, and where a path redirects, for a signed-in or
// signed-out user. Pure, so the rules are tested without a browser.

export const AUTH_PATHS = ['/sign-in', '/sign-up', '/confirm', '/forgot', '/reset'] as const
export const APP_PATHS = ['/tasks', '/account'] as const
/** Shown whether signed in or not (the dev mailbox page). */
export const OPEN_PATHS = ['/mailbox'] as const

export type ScreenPath = (typeof AUTH_PATHS)[number] | (typeof APP_PATHS)[number] | (typeof OPEN_PATHS)[number]

export type Resolved = { kind: 'screen'; path: ScreenPath } | { kind: 'redirect'; to: string }

const includes = <T extends string>(list: readonly T[], path: string): path is T => (list as readonly string[]).includes(path)

/**
 * Signed out: only the account screens (and the mailbox); anything else
 * goes to /sign-in. Signed in: /tasks and /account (and the mailbox);
 * anything else, the account screens included, goes to /tasks.
 */
export function resolveRoute(path: string, signedIn: boolean): Resolved {
  if (includes(OPEN_PATHS, path)) return { kind: 'screen', path }
  if (signedIn) return includes(APP_PATHS, path) ? { kind: 'screen', path } : { kind: 'redirect', to: '/tasks' }
  return includes(AUTH_PATHS, path) ? { kind: 'screen', path } : { kind: 'redirect', to: '/sign-in' }
}

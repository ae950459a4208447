// The signed-in session: what is kept, where, and the hook to reach it.
//
// Where the tokens live — the trade-off:
// - The refresh token and the e-mail address are kept in localStorage
//   (key 'tasksync.session') so a reload, a new tab or an offline start stays
//   signed in. Any script running on this origin can read localStorage, so
//   an XSS bug would leak a refresh token that lasts up to 30 days. We accept
//   that because the app renders user content only as text (React escapes it;
//   no dangerouslySetInnerHTML), ships no third-party scripts, and the server
//   rotates refresh tokens: a stolen token that is used after the real one
//   (or before it) is detected as reuse, which revokes the whole session.
//   "Sign out everywhere" ends every session at once. An httpOnly cookie
//   would hide the token from scripts, but the /auth contract is
//   token-in-body.
// - The access token (15 min) is kept in memory only and fetched again
//   with the refresh token when the app starts.

import { createContext, useContext } from 'react'

import type { AuthClient, Tokens } from '../../lib/auth'
import { AuthError, refreshDelayMs, tokenSubject } from '../../lib/auth'

export const STORAGE_KEY = 'tasksync.session'

/** What survives a reload. */
export interface StoredSession {
  email: string
  refreshToken: string
  /** The user id (the access token's `sub`); absent in sessions stored before it was kept. */
  userId?: string
}

export type Session =
  | { status: 'signed-out' }
  | {
      status: 'signed-in'
      email: string
      /**
       * The user id (the access token's `sub`): what names the local replica.
       * null only for a session stored before it was kept, until its first refresh.
       */
      userId: string | null
      refreshToken: string
      /** null until the first refresh after a start (e.g. while offline). */
      accessToken: string | null
      /** Seconds the access token lives; null with no access token. */
      expiresIn: number | null
    }

export type KeyValue = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>

/** Reads the stored session; anything malformed counts as none. */
export function readStoredSession(storage: KeyValue): StoredSession | null {
  let raw: string | null
  try {
    raw = storage.getItem(STORAGE_KEY)
  } catch {
    return null
  }
  if (!raw) return null
  try {
    const value = JSON.parse(raw) as unknown
    if (typeof value !== 'object' || value === null) return null
    const { email, refreshToken, userId } = value as Record<string, unknown>
    if (typeof email !== 'string' || typeof refreshToken !== 'string' || !email || !refreshToken) return null
    return typeof userId === 'string' && userId ? { email, refreshToken, userId } : { email, refreshToken }
  } catch {
    return null
  }
}

export function writeStoredSession(storage: KeyValue, session: StoredSession | null): void {
  try {
    if (session) storage.setItem(STORAGE_KEY, JSON.stringify({ email: session.email, refreshToken: session.refreshToken, userId: session.userId }))
    else storage.removeItem(STORAGE_KEY)
  } catch {
    // Storage full or disabled (private mode): the session lasts for this tab only.
  }
}

/** How long to wait before retrying a refresh that failed for a passing reason (offline, 5xx, 429). */
export function refreshRetryMs(attempt: number, retryAfterSeconds: number | null): number {
  if (retryAfterSeconds !== null && Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0) return retryAfterSeconds * 1000
  return Math.min(60_000, 2_000 * 2 ** Math.min(attempt, 10))
}

/** Runs `fn` while holding a lock shared by every tab of this origin. */
export type Lock = <T>(fn: () => Promise<T>) => Promise<T>

/**
 * Serialises refreshes across tabs with the Web Locks API where there is
 * one: refresh tokens rotate, and two tabs spending the same token would
 * look like reuse to the server, which revokes the whole session.
 */
export const browserLock: Lock = (fn) => {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
  return locks ? locks.request('tasksync.refresh', fn) : fn()
}

export interface SessionDeps {
  client: AuthClient
  storage: KeyValue
  lock?: Lock
  now?: () => number
  /** Called after the session ended (signed out here, elsewhere, or revoked). */
  onSignedOut?: () => void
}

export interface SessionView {
  session: Session
  notice: string | null
}

const REVOKED = 'Your session has ended. Please sign in again.'
const ELSEWHERE = 'You signed out in another tab.'

/**
 * Keeps the session: signs in and out, refreshes the access token a
 * minute before it expires (and at start, when only a refresh token is
 * stored), retries a refresh that failed for a passing reason, and ends the
 * session when the server says it is over (401). Plain TypeScript with a
 * subscribe/snapshot pair, so React reads it with useSyncExternalStore.
 */
export class SessionController {
  private view: SessionView
  private readonly listeners = new Set<() => void>()
  private timer: ReturnType<typeof setTimeout> | null = null
  private refreshDue = 0
  private attempt = 0
  private refreshing: Promise<void> | null = null
  /** Bumped whenever the session changes hands, so late answers are ignored. */
  private generation = 0
  private readonly lock: Lock
  private readonly now: () => number

  constructor(private readonly deps: SessionDeps) {
    this.lock = deps.lock ?? browserLock
    this.now = deps.now ?? Date.now
    this.view = { session: fromStored(readStoredSession(deps.storage)), notice: null }
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  readonly snapshot = (): SessionView => this.view

  readonly accessToken = (): string => (this.view.session.status === 'signed-in' ? (this.view.session.accessToken ?? '') : '')

  /** Starts refreshing (idempotent): at once without an access token, else when due. */
  start(): void {
    const s = this.view.session
    if (s.status !== 'signed-in') return
    if (s.accessToken === null) void this.refresh()
    else this.schedule(Math.max(0, this.refreshDue - this.now()))
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  /**
   * The server refused the access token (it expired early, or the session
   * was revoked: "sign out everywhere", a password reset): refresh now, which
   * ends the session at once if the server says it is over.
   */
  revalidate(): void {
    if (this.view.session.status === 'signed-in') void this.refresh()
  }

  /** The page became visible or the network came back: refresh if it is (over)due. */
  wake(): void {
    const s = this.view.session
    if (s.status === 'signed-in' && (s.accessToken === null || this.now() >= this.refreshDue)) void this.refresh()
  }

  async signIn(email: string, password: string): Promise<void> {
    const tokens = await this.deps.client.signIn(email, password)
    this.generation++
    const userId = tokenSubject(tokens.accessToken) ?? undefined
    writeStoredSession(this.deps.storage, { email, refreshToken: tokens.refreshToken, ...(userId ? { userId } : {}) })
    this.adopt(email, tokens, null)
  }

  async signOut(everywhere = false): Promise<void> {
    const s = this.view.session
    if (s.status !== 'signed-in') return
    const refreshToken = readStoredSession(this.deps.storage)?.refreshToken ?? s.refreshToken
    try {
      await this.deps.client.signOut(refreshToken, everywhere)
    } catch (error) {
      // Ending every session must really happen; ending this one locally is enough.
      if (everywhere) throw error
    }
    writeStoredSession(this.deps.storage, null)
    this.end(null)
  }

  /** Fetches a new token set (one at a time; concurrent calls share it). */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null
    })
    return this.refreshing
  }

  /** Another tab changed the stored session: follow it. */
  storageChanged(): void {
    const stored = readStoredSession(this.deps.storage)
    const s = this.view.session
    if (!stored) {
      if (s.status === 'signed-in') this.end(ELSEWHERE)
      return
    }
    if (s.status === 'signed-out' || !sameUser(s, stored)) {
      this.generation++
      this.stop()
      this.set({ session: fromStored(stored), notice: null })
      void this.refresh()
    } else if (s.refreshToken !== stored.refreshToken) {
      this.set({ ...this.view, session: { ...s, refreshToken: stored.refreshToken } })
    }
  }

  private async doRefresh(): Promise<void> {
    const generation = this.generation
    let used: string | null = null
    try {
      const result = await this.lock(async () => {
        const stored = readStoredSession(this.deps.storage)
        if (!stored) return null
        used = stored.refreshToken
        const tokens = await this.deps.client.refresh(stored.refreshToken)
        // Store the rotated token only if nobody signed in or out meanwhile.
        if (readStoredSession(this.deps.storage)?.refreshToken === stored.refreshToken) {
          const userId = tokenSubject(tokens.accessToken) ?? stored.userId
          writeStoredSession(this.deps.storage, { email: stored.email, refreshToken: tokens.refreshToken, ...(userId ? { userId } : {}) })
        }
        return { email: stored.email, tokens }
      })
      if (generation !== this.generation) return
      if (!result) {
        if (this.view.session.status === 'signed-in') this.end(ELSEWHERE)
        return
      }
      this.adopt(result.email, result.tokens, this.view.notice)
    } catch (error) {
      if (generation !== this.generation) return
      if (error instanceof AuthError && (error.status === 401 || error.code === 'NotAuthorized' || error.code === 'UserDisabled')) {
        if (readStoredSession(this.deps.storage)?.refreshToken === used) writeStoredSession(this.deps.storage, null)
        this.end(REVOKED)
        return
      }
      const retryAfter = error instanceof AuthError ? error.retryAfter : null
      this.schedule(refreshRetryMs(this.attempt++, retryAfter))
    }
  }

  private adopt(email: string, tokens: Tokens, notice: string | null): void {
    this.attempt = 0
    this.set({
      session: {
        status: 'signed-in',
        email,
        userId: tokenSubject(tokens.accessToken) ?? (this.view.session.status === 'signed-in' ? this.view.session.userId : null),
        refreshToken: tokens.refreshToken,
        accessToken: tokens.accessToken,
        expiresIn: tokens.expiresIn,
      },
      notice,
    })
    this.schedule(refreshDelayMs(tokens.expiresIn))
  }

  private end(notice: string | null): void {
    this.generation++
    this.stop()
    this.refreshDue = 0
    this.set({ session: { status: 'signed-out' }, notice })
    this.deps.onSignedOut?.()
  }

  private schedule(ms: number): void {
    this.stop()
    this.refreshDue = this.now() + ms
    this.timer = setTimeout(() => {
      this.timer = null
      void this.refresh()
    }, ms)
  }

  private set(view: SessionView): void {
    this.view = view
    for (const listener of this.listeners) listener()
  }
}

function fromStored(stored: StoredSession | null): Session {
  return stored
    ? { status: 'signed-in', email: stored.email, userId: stored.userId ?? null, refreshToken: stored.refreshToken, accessToken: null, expiresIn: null }
    : { status: 'signed-out' }
}

/** Whether a stored session is the user signed in here: by id when both know it, else by address in any letter case. */
function sameUser(s: { email: string; userId: string | null }, stored: StoredSession): boolean {
  if (s.userId && stored.userId) return s.userId === stored.userId
  return s.email.toLowerCase() === stored.email.toLowerCase()
}

export interface SessionApi {
  session: Session
  /** Why the user was signed out without asking (a revoked session); cleared on sign-in. */
  notice: string | null
  client: AuthClient
  signIn(email: string, password: string): Promise<void>
  /** Ends this session (or every session of the user) and forgets it here. */
  signOut(everywhere?: boolean): Promise<void>
  /** The freshest access token ('' when there is none yet): safe to call at any time. */
  accessToken(): string
  /** The server refused the access token: refresh it now, or end the session if it was revoked. */
  revalidate(): void
}

export const SessionContext = createContext<SessionApi | null>(null)

export function useSession(): SessionApi {
  const api = useContext(SessionContext)
  if (!api) throw new Error('useSession outside <SessionProvider>')
  return api
}

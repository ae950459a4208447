// The account API (`/auth/*`) from the browser: typed calls, typed errors.

export interface Tokens {
  accessToken: string
  idToken: string
  refreshToken: string
  /** Seconds the access token is valid for. */
  expiresIn: number
  tokenType: 'Bearer'
}

/** An error answer of `/auth/*`: `code` is stable, `message` is for people. */
export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds to wait (429 answers). */
    readonly retryAfter: number | null = null,
  ) {
    super(message)
    this.name = 'AuthError'
  }
}

export class AuthClient {
  constructor(
    private readonly base = '',
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  private async call<T>(path: string, body: unknown, bearer?: string): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (bearer) headers.authorization = `Bearer ${bearer}`
    const init: RequestInit = path === '/auth/me' ? { method: 'GET', headers } : { method: 'POST', headers, body: JSON.stringify(body) }
    let response: Response
    try {
      response = await this.fetchImpl(`${this.base}${path}`, init)
    } catch {
      throw new AuthError(0, 'NetworkError', 'the server cannot be reached')
    }
    const json = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } }
    if (!response.ok) {
      const retry = response.headers.get('retry-after')
      throw new AuthError(response.status, json.error?.code ?? 'Internal', json.error?.message ?? response.statusText, retry ? Number(retry) : null)
    }
    return json as T
  }

  signUp(email: string, password: string) {
    return this.call<{ userId: string; confirmed: boolean }>('/auth/sign-up', { email, password })
  }
  /** `password`: needed only once the address was signed up more than once. */
  confirmSignUp(email: string, code: string, password?: string) {
    return this.call<{ confirmed: true }>('/auth/confirm-sign-up', password === undefined ? { email, code } : { email, code, password })
  }
  resendCode(email: string) {
    return this.call<{ ok: true }>('/auth/resend-code', { email })
  }
  signIn(email: string, password: string) {
    return this.call<Tokens>('/auth/sign-in', { email, password })
  }
  refresh(refreshToken: string) {
    return this.call<Tokens>('/auth/refresh', { refreshToken })
  }
  signOut(refreshToken: string, global = false) {
    return this.call<{ ok: true }>('/auth/sign-out', { refreshToken, global })
  }
  forgotPassword(email: string) {
    return this.call<{ ok: true }>('/auth/forgot-password', { email })
  }
  confirmForgotPassword(email: string, code: string, newPassword: string) {
    return this.call<{ ok: true }>('/auth/confirm-forgot-password', { email, code, newPassword })
  }
  changePassword(accessToken: string, oldPassword: string, newPassword: string) {
    return this.call<{ ok: true }>('/auth/change-password', { oldPassword, newPassword }, accessToken)
  }
  me(accessToken: string) {
    return this.call<{ userId: string; email: string; emailVerified: boolean }>('/auth/me', undefined, accessToken)
  }
}

/**
 * When to refresh tokens that were issued `expiresIn` seconds ago: a minute
 * before they expire, or at half their life when they live less than two
 * minutes, so a request never goes out with an expired token.
 */
export function refreshDelayMs(expiresIn: number): number {
  const life = Math.max(0, expiresIn) * 1000
  return life >= 120_000 ? life - 60_000 : life / 2
}

/**
 * The `sub` claim (the user id) of a JWT, read without checking the
 * signature: only to name local storage, never to trust. null when the
 * token is not a readable JWT.
 */
export function tokenSubject(jwt: string): string | null {
  const part = jwt.split('.')[1]
  if (!part) return null
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='))
    const sub = (JSON.parse(json) as { sub?: unknown }).sub
    return typeof sub === 'string' && sub !== '' ? sub : null
  } catch {
    return null
  }
}

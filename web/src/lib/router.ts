// A tiny client-side router: the path lives in the address bar, changes go
// through history.pushState, and components re-render on popstate. The
// server answers every page path with index.html, so deep links work.
//
// It sits in src/lib (not src/app) because feature screens navigate too,
// and imports flow shared → features → app.

import { useMemo, useSyncExternalStore } from 'react'

export interface Location {
  /** The path without a trailing slash ('/' for the root). */
  path: string
  /** Query parameters; a repeated name keeps its first value. */
  query: Readonly<Record<string, string>>
}

/** Splits `pathname` and `search` into a normalised path and a query map. */
export function parseLocation(pathname: string, search = ''): Location {
  let path = pathname.replace(/\/{2,}/g, '/')
  if (path === '' || !path.startsWith('/')) path = `/${path}`
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1)
  const query: Record<string, string> = {}
  for (const [name, value] of new URLSearchParams(search)) {
    if (!(name in query)) query[name] = value
  }
  return { path, query }
}

/** Builds `path?name=value…`, leaving out empty and missing values. */
export function href(path: string, query: Readonly<Record<string, string | null | undefined>> = {}): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, value)
  }
  const search = params.toString()
  return search ? `${path}?${search}` : path
}

const CHANGE = 'tasksync:navigate'

/** Goes to `to` (a path with an optional query) without reloading the page. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const current = `${window.location.pathname}${window.location.search}`
  if (to === current) return
  if (options.replace) window.history.replaceState(null, '', to)
  else window.history.pushState(null, '', to)
  window.dispatchEvent(new Event(CHANGE))
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange)
  window.addEventListener(CHANGE, onChange)
  return () => {
    window.removeEventListener('popstate', onChange)
    window.removeEventListener(CHANGE, onChange)
  }
}

const snapshot = () => `${window.location.pathname}\n${window.location.search}`

/** The current location; re-renders when it changes. */
export function usePath(): Location {
  const key = useSyncExternalStore(subscribe, snapshot, () => '/\n')
  return useMemo(() => {
    const [pathname = '/', search = ''] = key.split('\n')
    return parseLocation(pathname, search)
  }, [key])
}

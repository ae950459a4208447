// Whether the server runs in development mode, which decides if the app
// mentions the dev mailbox. No endpoint of its own: the server routes
// `/dev/mailbox` only in dev mode (DESIGN.md), so a HEAD of it tells.

import { useEffect, useState } from 'react'

import type { KeyValue } from './session'

const KEY = 'tasksync.devMode'

function known(storage: KeyValue): boolean {
  try {
    return storage.getItem(KEY) === '1'
  } catch {
    return false
  }
}

/** Asks the server; offline, the last answer stands (none: production). */
export async function askDevMode(fetchImpl: typeof fetch, storage: KeyValue): Promise<boolean> {
  let dev: boolean
  try {
    dev = (await fetchImpl('/dev/mailbox', { method: 'HEAD' })).ok
  } catch {
    return known(storage)
  }
  try {
    storage.setItem(KEY, dev ? '1' : '0')
  } catch {
    // Storage refused: ask again next time.
  }
  return dev
}

let asked: Promise<boolean> | null = null

/** localStorage, or a stand-in that keeps nothing where the browser refuses it. */
function storage(): KeyValue {
  try {
    return window.localStorage
  } catch {
    return { getItem: () => null, setItem: () => {}, removeItem: () => {} }
  }
}

/** Dev mode as last known at once, then as the server says (asked once per page load). */
export function useDevMode(): boolean {
  const [dev, setDev] = useState(() => known(storage()))
  useEffect(() => {
    let live = true
    asked ??= askDevMode((...args) => fetch(...args), storage())
    void asked.then((answer) => {
      if (live) setDev(answer)
    })
    return () => {
      live = false
    }
  }, [])
  return dev
}

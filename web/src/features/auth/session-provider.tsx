import { useEffect, useMemo, useState, useSyncExternalStore, type ReactNode } from 'react'

import { AuthClient } from '../../lib/auth'
import { navigate } from '../../lib/router'
import type { KeyValue, SessionApi } from './session'
import { SessionContext, SessionController, STORAGE_KEY } from './session'

/** localStorage, or a memory stand-in where the browser refuses it (sandboxed frames). */
function browserStorage(): KeyValue {
  try {
    const storage = window.localStorage
    storage.getItem(STORAGE_KEY)
    return storage
  } catch {
    const data = new Map<string, string>()
    return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v), removeItem: (k) => void data.delete(k) }
  }
}

/** Holds the session for the whole app; see session.ts for what is kept where. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [controller] = useState(() => {
    const client = new AuthClient()
    return { client, session: new SessionController({ client, storage: browserStorage(), onSignedOut: () => navigate('/sign-in', { replace: true }) }) }
  })
  const view = useSyncExternalStore(controller.session.subscribe, controller.session.snapshot)

  useEffect(() => {
    const session = controller.session
    session.start()
    const onStorage = (event: StorageEvent) => {
      if (event.key === STORAGE_KEY || event.key === null) session.storageChanged()
    }
    const onWake = () => {
      if (document.visibilityState === 'visible') session.wake()
    }
    window.addEventListener('storage', onStorage)
    window.addEventListener('online', onWake)
    document.addEventListener('visibilitychange', onWake)
    return () => {
      session.stop()
      window.removeEventListener('storage', onStorage)
      window.removeEventListener('online', onWake)
      document.removeEventListener('visibilitychange', onWake)
    }
  }, [controller])

  const api = useMemo<SessionApi>(
    () => ({
      session: view.session,
      notice: view.notice,
      client: controller.client,
      signIn: (email, password) => controller.session.signIn(email, password),
      signOut: (everywhere) => controller.session.signOut(everywhere),
      accessToken: controller.session.accessToken,
      revalidate: () => controller.session.revalidate(),
    }),
    [view, controller],
  )
  return <SessionContext value={api}>{children}</SessionContext>
}

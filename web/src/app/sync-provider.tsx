import type { ReactNode } from 'react'

import { useSession } from '../features/auth/session'
import { SyncContext, useSync } from '../lib/sync/use-sync'

/**
 * Holds the signed-in user's sync engine for the whole app, so it outlives
 * the tasks screen (one engine per session, started once) and sign-out on
 * the account screen can send or discard its pending writes.
 */
export function SyncProvider({ children }: { children: ReactNode }) {
  const { session, accessToken, revalidate } = useSession()
  const signedIn = session.status === 'signed-in'
  const sync = useSync(signedIn ? session.userId : null, signedIn ? session.email : null, {
    token: accessToken,
    current: signedIn ? session.accessToken : null,
    revalidate,
  })
  return <SyncContext value={sync}>{children}</SyncContext>
}

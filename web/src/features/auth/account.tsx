import { useState, type FormEvent } from 'react'

import { Alert } from '../../components/ui/alert'
import { Button } from '../../components/ui/button'
import { TextField } from '../../components/ui/text-field'
import { useSyncState } from '../../lib/sync/use-sync'
import { FormError } from './form-error'
import { useSession } from './session'
import { useFormAction } from './use-form-action'

export function Account() {
  const { session, client, accessToken, signOut } = useSession()
  const sync = useSyncState()
  /** Sign-out found writes it could not send, and waits for the user's word. */
  const [ask, setAsk] = useState<{ everywhere: boolean; unsent: number } | null>(null)
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [changed, setChanged] = useState(false)
  const change = useFormAction()
  const leave = useFormAction()
  const email = session.status === 'signed-in' ? session.email : ''
  const connected = session.status === 'signed-in' && session.accessToken !== null

  const submit = (event: FormEvent) => {
    event.preventDefault()
    setChanged(false)
    void change.run(async () => {
      await client.changePassword(accessToken(), current, next)
      setCurrent('')
      setNext('')
      setChanged(true)
    })
  }

  /** Sends pending writes (or discards them, with consent), signs out, and deletes the local replica. */
  const end = (everywhere: boolean, discard: boolean) =>
    void leave.run(async () => {
      setAsk(null)
      const { unsent } = await sync.signOut(() => signOut(everywhere), discard)
      if (unsent > 0) setAsk({ everywhere, unsent })
    })

  return (
    <div className="mx-auto w-full max-w-lg space-y-6">
      <h1 className="text-2xl font-semibold tracking-tight">Account</h1>
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Signed in as <span className="font-medium text-slate-900 dark:text-slate-100">{email}</span>
      </p>

      <section aria-labelledby="password-title" className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800">
        <h2 id="password-title" className="text-lg font-semibold">
          Change password
        </h2>
        <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">Your other devices will be signed out; this one stays signed in.</p>
        <form onSubmit={submit} className="mt-4 space-y-4">
          <FormError error={change.error} />
          {changed && !change.error ? <Alert tone="success">Your password was changed.</Alert> : null}
          {!connected ? <Alert tone="warning">Not connected to the server right now; try again when you are back online.</Alert> : null}
          <TextField
            label="Current password"
            autoFocus
            type="password"
            name="current-password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
          />
          <TextField
            label="New password"
            type="password"
            name="new-password"
            autoComplete="new-password"
            required
            minLength={8}
            maxLength={256}
            hint="8 to 256 characters; common or easily guessed passwords are refused."
            value={next}
            onChange={(e) => setNext(e.target.value)}
          />
          <Button type="submit" busy={change.busy} disabled={!connected}>
            {change.busy ? 'Changing…' : 'Change password'}
          </Button>
        </form>
      </section>

      <section aria-labelledby="sessions-title" className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800">
        <h2 id="sessions-title" className="text-lg font-semibold">
          Sessions
        </h2>
        <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
          “Sign out everywhere” ends every session of your account, on every device, and closes their live connections.
        </p>
        <div className="mt-4 space-y-3">
          <FormError error={leave.error} />
          <div className="flex flex-wrap gap-3">
            <Button variant="secondary" busy={leave.busy} onClick={() => end(false, false)}>
              Sign out
            </Button>
            <Button variant="danger" busy={leave.busy} onClick={() => end(true, false)}>
              Sign out everywhere
            </Button>
          </div>
          {ask ? (
            <div role="alert" className="space-y-3 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950 dark:text-amber-100">
              <p>
                {ask.unsent === 1 ? '1 change has' : `${ask.unsent} changes have`} not been sent to the server yet (
                {connected ? 'the server did not take them in time' : 'you are offline'}). Signing out deletes this device's copy of your tasks, and
                with it {ask.unsent === 1 ? 'that change' : 'those changes'}.
              </p>
              <div className="flex flex-wrap gap-2">
                <Button size="sm" variant="secondary" onClick={() => setAsk(null)}>
                  Stay signed in
                </Button>
                <Button size="sm" variant="danger" busy={leave.busy} onClick={() => end(ask.everywhere, true)}>
                  Discard and sign out
                </Button>
              </div>
            </div>
          ) : null}
        </div>
      </section>
    </div>
  )
}

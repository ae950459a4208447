import { useEffect, useRef, useState, type FormEvent } from 'react'

import { Alert } from '../../components/ui/alert'
import { Button } from '../../components/ui/button'
import { focusRing } from '../../components/ui/focus'
import { TextField } from '../../components/ui/text-field'
import type { ListAction, ListResult, ListRole, TaskList } from '../../lib/sync/types'
import { emailError, guests, listActionError, ROLE_LABELS } from './lists'

type GuestRole = Exclude<ListRole, 'OWNER'>

const selectClass = `rounded-md border-0 bg-white py-1.5 pl-2 pr-7 text-sm text-slate-900 ring-1 ring-inset ring-slate-300 dark:bg-slate-900 dark:text-slate-100 dark:ring-slate-700 ${focusRing}`

/**
 * The owner's sharing of a list, in a modal dialog: invite by e-mail with
 * a role, and the members with their roles (changed in place), a mark on
 * those who have not joined yet, and a way to remove each. The server gives
 * the same answer whether an address has an account, and so does this.
 */
export function ShareDialog({ list, act, onClose }: { list: TaskList; act: (action: ListAction) => Promise<ListResult>; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null)
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<GuestRole>('EDITOR')
  const [error, setError] = useState<string | null>(null)
  const [done, setDone] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const owner = list.members.find((m) => m.role === 'OWNER')

  useEffect(() => {
    const dialog = ref.current
    if (dialog && !dialog.open) dialog.showModal()
  }, [])

  const run = async (action: ListAction, success: string): Promise<boolean> => {
    setBusy(true)
    const result = await act(action)
    setBusy(false)
    if (!result.ok) {
      setDone(null)
      setError(listActionError(result))
      return false
    }
    setError(null)
    setDone(success)
    return true
  }

  const invite = async (event: FormEvent) => {
    event.preventDefault()
    const problem = emailError(email)
    if (problem) {
      setDone(null)
      setError(problem)
      return
    }
    const address = email.trim()
    if (await run({ kind: 'share', listId: list.id, email: address, role }, `Shared with ${address} (${ROLE_LABELS[role].toLowerCase()}).`)) setEmail('')
  }

  return (
    <dialog
      ref={ref}
      aria-labelledby="share-title"
      onClose={onClose}
      className="m-auto w-[calc(100%-2rem)] max-w-lg rounded-xl bg-white p-0 text-slate-900 shadow-xl backdrop:bg-slate-900/50 dark:bg-slate-900 dark:text-slate-100"
    >
      <div className="space-y-5 p-5">
        <h2 id="share-title" dir="auto" className="break-words text-lg font-semibold">
          Share "{list.name}"
        </h2>

        <form onSubmit={(e) => void invite(e)} noValidate aria-label="Invite someone" className="flex flex-col gap-3 sm:flex-row sm:items-end">
          <TextField label="E-mail address" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} className="flex-1" />
          <div>
            <label htmlFor="share-role" className="mb-1 block text-sm font-medium text-slate-700 dark:text-slate-300">
              Role
            </label>
            <select id="share-role" value={role} onChange={(e) => setRole(e.target.value as GuestRole)} className={`${selectClass} py-2`}>
              <option value="EDITOR">{ROLE_LABELS.EDITOR}</option>
              <option value="VIEWER">{ROLE_LABELS.VIEWER}</option>
            </select>
          </div>
          <Button type="submit" busy={busy}>
            Invite
          </Button>
        </form>

        {error ? <Alert tone="error">{error}</Alert> : null}
        {done ? <Alert tone="success">{done}</Alert> : null}

        <div className="space-y-2">
          <h3 className="text-sm font-semibold">People with access</h3>
          <ul aria-label="Members" className="divide-y divide-slate-200 rounded-md ring-1 ring-slate-200 dark:divide-slate-800 dark:ring-slate-800">
            {owner ? (
              <li className="flex items-center justify-between gap-3 px-3 py-2 text-sm">
                <span className="min-w-0 break-all">{owner.email}</span>
                <span className="shrink-0 text-slate-600 dark:text-slate-400">{ROLE_LABELS.OWNER}</span>
              </li>
            ) : null}
            {guests(list).map((member) => (
              <li key={member.email} className="flex flex-wrap items-center justify-between gap-x-3 gap-y-1 px-3 py-2 text-sm">
                <span className="min-w-0 break-all">
                  {member.email}
                  {member.pending ? (
                    <span className="ml-2 whitespace-nowrap rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-900 dark:bg-amber-900 dark:text-amber-100">
                      Invitation pending
                    </span>
                  ) : null}
                </span>
                <span className="flex shrink-0 items-center gap-1">
                  <select
                    aria-label={`Role of ${member.email}`}
                    value={member.role}
                    disabled={busy}
                    onChange={(e) => {
                      const next = e.target.value as GuestRole
                      void run({ kind: 'share', listId: list.id, email: member.email, role: next }, `${member.email} now ${next === 'EDITOR' ? 'can edit' : 'can only view'}.`)
                    }}
                    className={selectClass}
                  >
                    <option value="EDITOR">{ROLE_LABELS.EDITOR}</option>
                    <option value="VIEWER">{ROLE_LABELS.VIEWER}</option>
                  </select>
                  <Button
                    size="sm"
                    variant="ghost"
                    disabled={busy}
                    aria-label={`Remove ${member.email}`}
                    className="text-rose-700 dark:text-rose-400"
                    onClick={() => void run({ kind: 'unshare', listId: list.id, email: member.email }, `${member.email} no longer has access.`)}
                  >
                    Remove
                  </Button>
                </span>
              </li>
            ))}
          </ul>
          {guests(list).length === 0 ? <p className="text-sm text-slate-600 dark:text-slate-400">Only you, so far.</p> : null}
        </div>

        <div className="flex justify-end">
          <Button variant="secondary" onClick={() => ref.current?.close()}>
            Close
          </Button>
        </div>
      </div>
    </dialog>
  )
}

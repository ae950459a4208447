import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react'

import { Alert } from '../../components/ui/alert'
import { Button } from '../../components/ui/button'
import { inputClass } from '../../components/ui/text-field'
import type { ListAction, ListResult, TaskList } from '../../lib/sync/types'
import { canLeave, canManage, canRename, guests, LIST_NAME_MAX, listActionError, listNameError, sharedBy } from './lists'
import { ShareDialog } from './share-dialog'

type Mode = { kind: 'idle' } | { kind: 'rename' } | { kind: 'confirm-delete' } | { kind: 'confirm-leave' } | { kind: 'share' }

/**
 * The shown list's name and marks (shared by, view only), and what the
 * user may do with it: rename (owner), share and delete (owner, not the
 * personal list), leave (a member). Every action goes to the server at once
 * and says when it failed. Keyed by list: another list starts over.
 */
export function ListHeader({
  list,
  taskCount,
  act,
}: {
  list: TaskList
  /** How many tasks the list has (said before a delete). */
  taskCount: number
  act: (action: ListAction) => Promise<ListResult>
}) {
  const [mode, setMode] = useState<Mode>({ kind: 'idle' })
  const [name, setName] = useState(list.name)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const nameRef = useRef<HTMLInputElement>(null)
  const by = sharedBy(list)
  const others = guests(list)

  useEffect(() => {
    if (mode.kind === 'rename') nameRef.current?.select()
  }, [mode.kind])

  const run = async (action: ListAction): Promise<boolean> => {
    setBusy(true)
    const result = await act(action)
    setBusy(false)
    if (result.ok) {
      setError(null)
      return true
    }
    setError(listActionError(result))
    return false
  }

  const rename = async (event?: FormEvent) => {
    event?.preventDefault()
    const problem = listNameError(name)
    if (problem) {
      setError(problem)
      nameRef.current?.focus()
      return
    }
    if (name.trim() === list.name || (await run({ kind: 'rename', id: list.id, name: name.trim() }))) setMode({ kind: 'idle' })
  }
  const onNameKey = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'Escape') {
      event.preventDefault()
      setMode({ kind: 'idle' })
      setError(null)
    }
  }

  return (
    <div className="space-y-3">
      {mode.kind === 'rename' ? (
        <form onSubmit={(e) => void rename(e)} aria-label={`Rename "${list.name}"`} className="flex flex-wrap items-center gap-2">
          <input
            ref={nameRef}
            aria-label={`Name of "${list.name}"`}
            dir="auto"
            required
            maxLength={LIST_NAME_MAX}
            value={name}
            onChange={(e) => setName(e.target.value)}
            onKeyDown={onNameKey}
            className={`${inputClass} min-w-0 flex-1`}
          />
          <Button type="submit" size="sm" busy={busy}>
            Save
          </Button>
          <Button
            size="sm"
            variant="secondary"
            onClick={() => {
              setMode({ kind: 'idle' })
              setError(null)
            }}
          >
            Cancel
          </Button>
        </form>
      ) : (
        <div className="flex flex-wrap items-center justify-between gap-2">
          <div className="min-w-0">
            <h2 dir="auto" className="break-words text-xl font-semibold">
              {list.name}
            </h2>
            <p className="flex flex-wrap items-center gap-2 text-sm text-slate-600 dark:text-slate-400">
              {by ? <span className="break-all">Shared by {by}</span> : null}
              {list.role === 'OWNER' && others.length > 0 ? <span>Shared with {others.length === 1 ? '1 person' : `${others.length} people`}</span> : null}
              {list.role === 'VIEWER' ? (
                <span className="rounded-full bg-slate-200 px-2 py-0.5 text-xs font-medium text-slate-800 dark:bg-slate-700 dark:text-slate-100">View only</span>
              ) : null}
            </p>
          </div>
          <div className="flex flex-wrap gap-1">
            {canRename(list) ? (
              <Button
                size="sm"
                variant="ghost"
                onClick={() => {
                  setName(list.name)
                  setError(null)
                  setMode({ kind: 'rename' })
                }}
              >
                Rename list
              </Button>
            ) : null}
            {canManage(list) ? (
              <>
                <Button size="sm" variant="ghost" onClick={() => setMode({ kind: 'share' })}>
                  Share list
                </Button>
                <Button size="sm" variant="ghost" className="text-rose-700 dark:text-rose-400" onClick={() => setMode({ kind: 'confirm-delete' })}>
                  Delete list
                </Button>
              </>
            ) : null}
            {canLeave(list) ? (
              <Button size="sm" variant="ghost" onClick={() => setMode({ kind: 'confirm-leave' })}>
                Leave list
              </Button>
            ) : null}
          </div>
        </div>
      )}

      {mode.kind === 'confirm-delete' || mode.kind === 'confirm-leave' ? (
        <div role="alertdialog" aria-labelledby="list-confirm" className="flex flex-col gap-3 rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-900 sm:flex-row sm:items-center sm:justify-between dark:border-rose-900 dark:bg-rose-950 dark:text-rose-100">
          <p id="list-confirm">
            {mode.kind === 'confirm-delete'
              ? `Delete "${list.name}"${taskCount > 0 ? ` and its ${taskCount === 1 ? 'task' : `${taskCount} tasks`}` : ''}${list.members.length > 1 ? ' for everyone it is shared with' : ''}?`
              : `Leave "${list.name}"? Its tasks will no longer be shown to you.`}
          </p>
          <div className="flex shrink-0 gap-2">
            <Button
              size="sm"
              variant="danger"
              busy={busy}
              onClick={() => void run(mode.kind === 'confirm-delete' ? { kind: 'delete', id: list.id } : { kind: 'leave', listId: list.id }).then((ok) => ok && setMode({ kind: 'idle' }))}
            >
              {mode.kind === 'confirm-delete' ? 'Yes, delete list' : 'Yes, leave list'}
            </Button>
            {/* Focus goes to the way back, not to the destructive choice. */}
            <Button size="sm" variant="secondary" autoFocus onClick={() => setMode({ kind: 'idle' })}>
              Cancel
            </Button>
          </div>
        </div>
      ) : null}

      {error && mode.kind !== 'share' ? <Alert tone="error">{error}</Alert> : null}

      {mode.kind === 'share' ? <ShareDialog list={list} act={act} onClose={() => setMode({ kind: 'idle' })} /> : null}
    </div>
  )
}

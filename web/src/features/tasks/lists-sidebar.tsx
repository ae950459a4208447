import { useState, type FormEvent } from 'react'

import { Alert } from '../../components/ui/alert'
import { Button } from '../../components/ui/button'
import { focusRing } from '../../components/ui/focus'
import { Link } from '../../components/ui/link'
import { inputClass } from '../../components/ui/text-field'
import type { TaskList } from '../../lib/sync/types'
import { LIST_NAME_MAX, listNameError, sharedBy } from './lists'

/**
 * The user's lists (personal first), each with its count of open tasks and,
 * when someone else owns it, who shared it; and a form for a new list.
 * `linkTo` gives a list's address; `onCreate` makes a list and says what
 * went wrong, or null.
 */
export function ListsSidebar({
  lists,
  selectedId,
  openCounts,
  linkTo,
  onCreate,
  onPick,
}: {
  lists: readonly TaskList[]
  selectedId: string | null
  openCounts: Readonly<Record<string, number>>
  linkTo: (list: TaskList) => string
  onCreate: (name: string) => Promise<string | null>
  /** A list was chosen. */
  onPick?: () => void
}) {
  const [name, setName] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    const problem = listNameError(name)
    if (problem) {
      setError(problem)
      return
    }
    setBusy(true)
    const failed = await onCreate(name.trim())
    setBusy(false)
    setError(failed)
    if (!failed) setName('')
  }

  return (
    <nav aria-label="Lists" className="mb-6 space-y-4 md:mb-0">
      <h2 className="text-sm font-semibold uppercase tracking-wide text-slate-600 dark:text-slate-400">Lists</h2>
      <ul className="space-y-1">
        {lists.map((list) => {
          const current = list.id === selectedId
          const by = sharedBy(list)
          const open = openCounts[list.id] ?? 0
          return (
            <li key={list.id}>
              <Link
                to={linkTo(list)}
                onClick={onPick}
                aria-current={current ? 'page' : undefined}
                className={`flex min-h-10 items-start justify-between gap-2 rounded-md px-3 py-2 no-underline hover:no-underline ${focusRing} ${
                  current
                    ? 'bg-indigo-50 text-indigo-800 dark:bg-indigo-950 dark:text-indigo-100'
                    : 'text-slate-700 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800'
                }`}
              >
                <span className="min-w-0">
                  <span dir="auto" className="block break-words">
                    {list.name}
                  </span>
                  {by ? (
                    <span className="block break-all text-xs font-normal text-slate-600 dark:text-slate-400">
                      <span className="sr-only">, </span>shared by {by}
                    </span>
                  ) : null}
                </span>
                <span className="shrink-0 text-sm font-normal tabular-nums text-slate-600 dark:text-slate-400">
                  <span className="sr-only">, </span>
                  {open}
                  <span className="sr-only"> open</span>
                </span>
              </Link>
            </li>
          )
        })}
      </ul>
      <form onSubmit={(e) => void submit(e)} aria-label="New list" className="space-y-2">
        <div className="flex gap-2">
          <input
            aria-label="New list name"
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'new-list-error' : undefined}
            dir="auto"
            placeholder="New list"
            maxLength={LIST_NAME_MAX}
            value={name}
            onChange={(e) => setName(e.target.value)}
            className={`${inputClass} min-w-0 text-sm`}
          />
          <Button type="submit" size="sm" variant="secondary" busy={busy}>
            Create
          </Button>
        </div>
        {error ? (
          <Alert tone="error" className="text-xs">
            <span id="new-list-error">{error}</span>
          </Alert>
        ) : null}
      </form>
    </nav>
  )
}

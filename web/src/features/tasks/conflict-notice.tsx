import { Fragment } from 'react'

import { Button } from '../../components/ui/button'
import type { ConflictNotice, Notice } from '../../lib/sync/outbox'
import { reapply } from '../../lib/sync/outbox'
import type { PendingWrite } from '../../lib/sync/types'
import { conflictSides, conflictTitle, refusedTitle } from './task-list'

const noticeClass =
  'flex flex-col gap-3 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900 sm:flex-row sm:items-center sm:justify-between dark:border-amber-900 dark:bg-amber-950 dark:text-amber-100'

/** One local edit that lost to a newer version on the server, and the two ways out. */
export function ConflictNoticeView({
  notice,
  onReapply,
  onDismiss,
}: {
  notice: ConflictNotice
  onReapply: (write: PendingWrite) => void
  onDismiss: () => void
}) {
  const again = reapply(notice)
  const sides = conflictSides(notice)
  return (
    <div role="alert" className={noticeClass}>
      <div className="min-w-0 space-y-1">
        <p>
          Your edit of "{conflictTitle(notice.write, notice.server)}" was overtaken by a newer version.
        </p>
        {sides.length > 0 ? (
          <dl className="grid grid-cols-[auto_1fr] gap-x-2 text-xs">
            {sides.map(({ field, mine, theirs }) => (
              <Fragment key={field}>
                <dt className="font-medium">{field}, yours:</dt>
                <dd dir="auto" className="break-words">{mine}</dd>
                <dt className="font-medium">{field}, theirs:</dt>
                <dd dir="auto" className="break-words">{theirs}</dd>
              </Fragment>
            ))}
          </dl>
        ) : null}
      </div>
      <div className="flex shrink-0 gap-2">
        {again ? (
          <Button size="sm" onClick={() => onReapply(again)}>
            Re-apply my edit
          </Button>
        ) : null}
        <Button size="sm" variant="secondary" onClick={onDismiss}>
          Keep theirs
        </Button>
      </div>
    </div>
  )
}

/** Edits of a task that another device deleted first: not saved; the task can come back as a new one. */
export function GoneNoticeView({
  notice,
  onRestore,
  onDismiss,
}: {
  notice: Notice & { kind: 'gone' }
  onRestore: () => void
  onDismiss: () => void
}) {
  return (
    <div role="alert" className={noticeClass}>
      <p>"{notice.draft.title}" was deleted on another device, so your edit of it was not saved.</p>
      <div className="flex shrink-0 gap-2">
        <Button size="sm" onClick={onRestore}>
          Restore as a new task
        </Button>
        <Button size="sm" variant="secondary" onClick={onDismiss}>
          Let it go
        </Button>
      </div>
    </div>
  )
}

/** A write the server refused for good. */
export function RefusedNoticeView({ notice, onDismiss }: { notice: Notice & { kind: 'refused' }; onDismiss: () => void }) {
  return (
    <div role="alert" className={noticeClass}>
      <p>
        Your change to "{refusedTitle(notice.write, notice.title)}" was not saved: {notice.reason}
      </p>
      <div className="flex shrink-0 gap-2">
        <Button size="sm" variant="secondary" onClick={onDismiss}>
          Dismiss
        </Button>
      </div>
    </div>
  )
}

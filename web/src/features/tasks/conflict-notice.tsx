import { Button } from '../../components/ui/button'
import type { ConflictNotice } from '../sync/outbox'
import { reapply } from '../sync/outbox'
import type { PendingWrite } from '../sync/types'
import { conflictTitle } from './task-list'

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
  return (
    <div
      role="alert"
      className="flex flex-col gap-3 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900 sm:flex-row sm:items-center sm:justify-between dark:border-amber-900 dark:bg-amber-950 dark:text-amber-100"
    >
      <p>
        Your edit of "{conflictTitle(notice.write, notice.server)}" was overtaken by a newer version.
      </p>
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

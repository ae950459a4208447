import type { Status } from '../../lib/sync/engine'

const LOOK: Record<Status, { label: string; dot: string; text: string; hint: string }> = {
  live: { label: 'Live', dot: 'bg-emerald-500', text: 'text-emerald-800 dark:text-emerald-300', hint: 'Connected: changes arrive as they happen.' },
  syncing: { label: 'Syncing', dot: 'bg-amber-500 animate-pulse', text: 'text-amber-800 dark:text-amber-300', hint: 'Catching up with the server.' },
  offline: {
    label: 'Offline',
    dot: 'bg-slate-400',
    text: 'text-slate-600 dark:text-slate-400',
    hint: 'Not connected: your changes are kept on this device and sent when you are back online.',
  },
}

/** Live / Syncing / Offline, announced politely when it changes. */
export function StatusBadge({ status }: { status: Status }) {
  const look = LOOK[status]
  return (
    <span
      role="status"
      aria-label="Sync status"
      title={look.hint}
      className={`inline-flex items-center gap-1.5 rounded-full bg-white px-2.5 py-1 text-xs font-medium ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-700 ${look.text}`}
    >
      <span aria-hidden="true" className={`size-2 rounded-full ${look.dot}`} />
      {look.label}
    </span>
  )
}

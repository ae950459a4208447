import { useMemo, useState } from 'react'

import { Alert } from '../../components/ui/alert'
import { focusRing } from '../../components/ui/focus'
import type { Task } from '../sync/types'
import { useSyncState } from '../sync/use-sync'
import { AddTaskForm } from './add-task-form'
import { ConflictNoticeView, GoneNoticeView, RefusedNoticeView } from './conflict-notice'
import { StatusBadge } from './status-badge'
import type { Filter } from './task-list'
import { countTasks, emptyMessage, FILTERS, filterTasks } from './task-list'
import type { TaskEdit } from './task-item'
import { TaskItem } from './task-item'
import { UndoToasts } from './undo-toasts'

/** How long a delete can be undone; it is held on the device (in the stored outbox) until then. */
export const UNDO_MS = 5_000

export function TasksScreen() {
  const sync = useSyncState()
  const { write, pending, latest } = sync
  const [filter, setFilter] = useState<Filter>('all')

  // A held delete already hides its task (the outbox is laid over the replica).
  const counts = useMemo(() => countTasks(sync.tasks), [sync.tasks])
  const shown = useMemo(() => filterTasks(sync.tasks, filter), [sync.tasks, filter])
  const unsynced = new Set(pending().map((w) => w.id))

  /** The task as it is now (not as last rendered) and the version to expect. */
  const now = (task: Task) => latest(task.id) ?? { task, expectedVersion: task.version }
  const toggle = (task: Task) => {
    const { task: current, expectedVersion: version } = now(task)
    void write({ kind: 'update', id: task.id, expectedVersion: version, done: !current.done })
  }
  const save = (task: Task, edit: TaskEdit) => void write({ kind: 'update', id: task.id, expectedVersion: now(task).expectedVersion, ...edit })
  const remove = (task: Task) =>
    void write({ kind: 'delete', id: task.id, expectedVersion: now(task).expectedVersion, holdUntil: Date.now() + UNDO_MS })

  const add = (title: string, description: string | null) => {
    void write({ kind: 'create', id: crypto.randomUUID(), title, description, done: false })
  }

  return (
    <div className="mx-auto w-full max-w-2xl space-y-5">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-semibold tracking-tight">Tasks</h1>
        <StatusBadge status={sync.status} />
      </div>

      {sync.notices.length > 0 ? (
        <div className="space-y-2">
          {sync.notices.map((notice, index) =>
            notice.kind === 'conflict' ? (
              <ConflictNoticeView
                key={index}
                notice={notice}
                onReapply={(again) => {
                  sync.dismiss(notice)
                  void write(again)
                }}
                onDismiss={() => sync.dismiss(notice)}
              />
            ) : notice.kind === 'gone' ? (
              <GoneNoticeView key={index} notice={notice} onRestore={() => sync.restore(notice)} onDismiss={() => sync.dismiss(notice)} />
            ) : (
              <RefusedNoticeView key={index} notice={notice} onDismiss={() => sync.dismiss(notice)} />
            ),
          )}
        </div>
      ) : null}

      <AddTaskForm onAdd={add} />

      <div role="group" aria-label="Filter tasks" className="flex flex-wrap gap-1 rounded-lg bg-slate-100 p-1 dark:bg-slate-900">
        {FILTERS.map(({ value, label }) => (
          <button
            key={value}
            type="button"
            aria-pressed={filter === value}
            onClick={() => setFilter(value)}
            className={`flex-1 rounded-md px-3 py-1.5 text-sm font-medium transition-colors ${focusRing} ${
              filter === value
                ? 'bg-white text-slate-900 shadow-sm dark:bg-slate-700 dark:text-white'
                : 'text-slate-600 hover:text-slate-900 dark:text-slate-400 dark:hover:text-white'
            }`}
          >
            {label} <span className="tabular-nums text-slate-500 dark:text-slate-400">({counts[value]})</span>
          </button>
        ))}
      </div>

      {!sync.loaded ? (
        <p className="text-sm text-slate-500">Loading your tasks…</p>
      ) : shown.length === 0 ? (
        <p className="rounded-xl border border-dashed border-slate-300 p-8 text-center text-sm text-slate-500 dark:border-slate-700 dark:text-slate-400">
          {emptyMessage(filter, counts)}
        </p>
      ) : (
        <ul className="space-y-2" aria-label={`${FILTERS.find((f) => f.value === filter)?.label ?? 'All'} tasks`}>
          {shown.map((task) => (
            <TaskItem
              key={task.id}
              task={task}
              unsynced={unsynced.has(task.id)}
              onToggle={() => toggle(task)}
              onSave={(edit) => save(task, edit)}
              onDelete={() => remove(task)}
            />
          ))}
        </ul>
      )}

      {sync.status === 'offline' && sync.loaded && unsynced.size > 0 ? (
        <Alert tone="info">You are offline. Your changes are saved on this device and will be sent when the connection is back.</Alert>
      ) : null}

      <UndoToasts waiting={sync.held} onUndo={sync.undoDelete} />
    </div>
  )
}

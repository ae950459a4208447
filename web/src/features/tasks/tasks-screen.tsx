import { useEffect, useMemo, useState } from 'react'

import { Alert } from '../../components/ui/alert'
import { focusRing } from '../../components/ui/focus'
import { href, navigate, usePath } from '../../lib/router'
import { fieldsOf } from '../../lib/sync/outbox'
import type { Task } from '../../lib/sync/types'
import { useSyncState } from '../../lib/sync/use-sync'
import { AddTaskForm, NEW_TASK_ID } from './add-task-form'
import { ConflictNoticeView, GoneNoticeView, RefusedNoticeView } from './conflict-notice'
import { StatusBadge } from './status-badge'
import type { Filter } from './task-list'
import { countTasks, editOf, emptyMessage, FILTERS, filterTasks, parseFilter } from './task-list'
import { doneId, TaskItem } from './task-item'
import type { UndoToast } from './undo-toasts'
import { UndoToasts } from './undo-toasts'
import { useUndoComplete } from './use-undo-complete'

/** How long a delete or a completion can be undone; a delete is held on the device (in the stored outbox) until then. */
export const UNDO_MS = 5_000

export function TasksScreen() {
  const sync = useSyncState()
  const { write, pending, latest, expectedVersion } = sync
  // The filter lives in the address, so a reload or a shared link keeps it.
  const filter = parseFilter(usePath().query.filter)
  const setFilter = (value: Filter) => navigate(href('/tasks', { filter: value === 'all' ? null : value }), { replace: true })
  const { completed, offer, forget } = useUndoComplete(UNDO_MS)
  /** Where focus goes once the list has re-rendered: a task's checkbox, or '' for the new-task field. */
  const [focusNext, setFocusNext] = useState<string | null>(null)
  // Tasks being edited, as they were when editing began (by id).
  const [editing, setEditing] = useState<Readonly<Record<string, Task>>>({})

  // A held delete already hides its task (the outbox is laid over the replica).
  const counts = useMemo(() => countTasks(sync.tasks), [sync.tasks])
  const shown = useMemo(() => filterTasks(sync.tasks, filter), [sync.tasks, filter])
  // Tasks deleted elsewhere while being edited stay on screen with the typed text.
  const gone = useMemo(() => {
    const live = new Set(sync.tasks.map((t) => t.id))
    return Object.values(editing).filter((t) => !live.has(t.id))
  }, [sync.tasks, editing])
  const unsynced = new Set(pending().map((w) => w.id))

  /** The task as it is now (not as last rendered) and the version to expect. */
  const now = (task: Task) => latest(task.id) ?? { task, expectedVersion: task.version }
  const setDone = (task: Task, done: boolean) => {
    const { task: current, expectedVersion: version } = now(task)
    void write({ kind: 'update', id: task.id, expectedVersion: version, done, was: { done: current.done } })
  }
  const toggle = (task: Task) => {
    const done = !now(task).task.done
    // Under Active or Done the task leaves the list: focus moves on, not to <body>.
    if (filter !== 'all') focusAfter(task)
    setDone(task, done)
    if (done) offer({ id: task.id, title: task.title })
    else forget(task.id)
  }
  const undoComplete = (task: { id: string; title: string }) => {
    forget(task.id)
    const current = latest(task.id)
    if (current?.task.done) setDone(current.task, false)
    setFocusNext(task.id)
  }
  const startEdit = (task: Task) => setEditing((e) => ({ ...e, [task.id]: now(task).task }))
  const stopEdit = (id: string) =>
    setEditing((e) => {
      const { [id]: _, ...rest } = e
      return rest
    })
  /**
   * Writes what the typed text changes since editing began, expecting the
   * version of then: a change made elsewhere meanwhile is a conflict the
   * user is shown, never silently overwritten.
   */
  const save = (base: Task, title: string, description: string) => {
    stopEdit(base.id)
    const edit = editOf(base, title, description)
    if (edit.title !== undefined || edit.description !== undefined)
      void write({ kind: 'update', id: base.id, expectedVersion: expectedVersion(base.id, base.version), ...edit, was: fieldsOf(base, edit) })
  }
  const saveAsNew = (base: Task, title: string, description: string) => {
    stopEdit(base.id)
    add(title.trim(), description.trim() || null)
  }
  /** Focus goes to the task after `task` (or the one before, or the new-task field) once it is gone. */
  const focusAfter = (task: Task) => {
    const at = shown.findIndex((t) => t.id === task.id)
    setFocusNext((shown[at + 1] ?? shown[at - 1])?.id ?? '')
  }
  const remove = (task: Task) => {
    focusAfter(task)
    forget(task.id)
    void write({ kind: 'delete', id: task.id, expectedVersion: now(task).expectedVersion, holdUntil: Date.now() + UNDO_MS })
  }
  const undoDelete = (id: string) => {
    sync.undoDelete(id)
    setFocusNext(id)
  }

  useEffect(() => {
    if (focusNext === null) return
    // A task not shown under this filter: the new-task field instead.
    const task = focusNext ? document.getElementById(doneId(focusNext)) : null
    // An undone delete is still being taken out of the stored outbox: wait for its task.
    if (!task && sync.held.some((h) => h.task.id === focusNext)) return
    const target = task ?? document.getElementById(NEW_TASK_ID)
    target?.focus()
    setFocusNext(null)
  }, [focusNext, shown, sync.held])

  const toasts: UndoToast[] = [
    ...sync.held.map(({ task }) => ({
      key: `delete-${task.id}`,
      verb: 'Deleted',
      title: task.title,
      undoLabel: `Undo delete of "${task.title}"`,
      onUndo: () => undoDelete(task.id),
    })),
    ...completed.map((task) => ({
      key: `done-${task.id}`,
      verb: 'Completed',
      title: task.title,
      undoLabel: `Undo completing "${task.title}"`,
      onUndo: () => undoComplete(task),
    })),
  ]

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
            {label} <span className="tabular-nums">({counts[value]})</span>
          </button>
        ))}
      </div>

      {!sync.loaded ? (
        <p className="text-sm text-slate-500 dark:text-slate-400">Loading your tasks…</p>
      ) : shown.length === 0 && gone.length === 0 ? (
        <p className="rounded-xl border border-dashed border-slate-300 p-8 text-center text-sm text-slate-500 dark:border-slate-700 dark:text-slate-400">
          {emptyMessage(filter, counts)}
        </p>
      ) : (
        <ul className="space-y-2" aria-label={`${FILTERS.find((f) => f.value === filter)?.label ?? 'All'} tasks`}>
          {/* One list, so a task that turns "gone" keeps its element and the text typed into it. */}
          {[...shown, ...gone].map((task) => {
            const base = editing[task.id] ?? null
            const isGone = gone.includes(task)
            return (
              <TaskItem
                key={task.id}
                task={task}
                base={base}
                gone={isGone}
                unsynced={unsynced.has(task.id)}
                onToggle={() => toggle(task)}
                onStartEdit={() => startEdit(task)}
                onCancel={() => stopEdit(task.id)}
                onSave={(title, description) => (isGone ? saveAsNew : save)(base ?? task, title, description)}
                onDelete={() => remove(task)}
              />
            )
          })}
        </ul>
      )}

      {sync.status === 'offline' && sync.loaded && unsynced.size > 0 ? (
        <Alert tone="info">You are offline. Your changes are saved on this device and will be sent when the connection is back.</Alert>
      ) : null}

      <UndoToasts toasts={toasts} />
    </div>
  )
}

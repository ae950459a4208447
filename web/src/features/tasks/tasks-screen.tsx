import { useEffect, useMemo, useRef, useState } from 'react'

import { Alert } from '../../components/ui/alert'
import { focusRing } from '../../components/ui/focus'
import { href, navigate, usePath } from '../../lib/router'
import { fieldsOf } from '../../lib/sync/outbox'
import type { ListAction, Task, TaskFields, TaskList } from '../../lib/sync/types'
import { useSyncState } from '../../lib/sync/use-sync'
import { AddTaskForm, NEW_TASK_ID } from './add-task-form'
import { ConflictNoticeView, GoneNoticeView, RefusedNoticeView } from './conflict-notice'
import { ListHeader } from './list-header'
import { canWrite, listActionError, openCounts, selectList } from './lists'
import { ListsSidebar } from './lists-sidebar'
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
  const { write, pending, latest, expectedVersion, listAction } = sync
  // The list and the filter live in the address, so a reload or a shared link keeps them.
  const { query } = usePath()
  const filter = parseFilter(query.filter)
  const filterParam = filter === 'all' ? null : filter
  const setFilter = (value: Filter) => navigate(href('/tasks', { list: query.list ?? null, filter: value === 'all' ? null : value }), { replace: true })
  const list = selectList(sync.lists, query.list, sync.personalListId)
  const listId = list?.id ?? sync.personalListId ?? ''
  const writable = canWrite(list)
  const linkTo = (l: TaskList) => href('/tasks', { list: l.personal ? null : l.id, filter: filterParam })
  /** The list last shown, so that its going away (unshared, deleted) can be said. */
  const lastShown = useRef<TaskList | null>(null)
  const [lostName, setLostName] = useState<string | null>(null)
  const { completed, offer, forget } = useUndoComplete(UNDO_MS)
  /** Where focus goes once the list has re-rendered: a task's checkbox, or '' for the new-task field. */
  const [focusNext, setFocusNext] = useState<string | null>(null)
  // Tasks being edited, as they were when editing began (by id).
  const [editing, setEditing] = useState<Readonly<Record<string, Task>>>({})

  // A held delete already hides its task (the outbox is laid over the replica).
  const listTasks = useMemo(() => sync.tasks.filter((t) => t.listId === listId), [sync.tasks, listId])
  const open = useMemo(() => openCounts(sync.tasks), [sync.tasks])
  const counts = useMemo(() => countTasks(listTasks), [listTasks])
  const shown = useMemo(() => filterTasks(listTasks, filter), [listTasks, filter])
  const moveTo = useMemo(() => (writable ? sync.lists.filter((l) => l.role !== 'VIEWER').map(({ id, name }) => ({ id, name })) : []), [sync.lists, writable])

  // The list in the address is gone (lost, left, deleted; or never was): show the personal list, and say so.
  const missing = query.list !== undefined && sync.loaded && sync.lists.length > 0 && !sync.lists.some((l) => l.id === query.list)
  useEffect(() => {
    if (!missing) return
    const last = lastShown.current
    if (last && last.id === query.list) setLostName(last.name)
    navigate(href('/tasks', { filter: filterParam }), { replace: true })
  }, [missing, query.list, filterParam])
  useEffect(() => {
    if (list) lastShown.current = list
  }, [list])
  // Another list chosen: the news of the lost one has been seen.
  useEffect(() => {
    if (query.list !== undefined && !missing) setLostName(null)
  }, [query.list, missing])
  // Tasks deleted elsewhere while being edited stay on screen with the typed text.
  const live = useMemo(() => new Set(sync.tasks.map((t) => t.id)), [sync.tasks])
  const gone = useMemo(() => Object.values(editing).filter((t) => !live.has(t.id)), [live, editing])
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
  const save = (base: Task, title: string, description: string, toList: string) => {
    stopEdit(base.id)
    const edit: TaskFields = editOf(base, title, description)
    // A move to another list is part of the same write.
    if (toList !== base.listId) edit.listId = toList
    if (Object.keys(edit).length > 0)
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
    // A completed task that is gone meanwhile (deleted, its list lost) has nothing to undo.
    ...completed.filter((task) => live.has(task.id)).map((task) => ({
      key: `done-${task.id}`,
      verb: 'Completed',
      title: task.title,
      undoLabel: `Undo completing "${task.title}"`,
      onUndo: () => undoComplete(task),
    })),
  ]

  const add = (title: string, description: string | null) => {
    void write({ kind: 'create', id: crypto.randomUUID(), title, description, done: false, ...(listId ? { listId } : {}) })
  }

  /** Runs a list action; a list just made is shown, and after a delete or leave the personal list. */
  const act = async (action: ListAction) => {
    const result = await listAction(action)
    if (result.ok && result.list && !result.list.deleted && action.kind === 'create') navigate(linkTo(result.list))
    // The user's own delete or leave needs no news of the list being gone.
    if (result.ok && (action.kind === 'delete' || action.kind === 'leave')) navigate(href('/tasks', { filter: filterParam }))
    return result
  }
  const createList = async (name: string) => {
    const result = await act({ kind: 'create', id: crypto.randomUUID(), name })
    return result.ok ? null : listActionError(result)
  }

  return (
    <div className="mx-auto w-full max-w-5xl space-y-5">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-semibold tracking-tight">Tasks</h1>
        <StatusBadge status={sync.status} />
      </div>
      <div className="md:grid md:grid-cols-[14rem_minmax(0,1fr)] md:gap-8">
        <ListsSidebar lists={sync.lists} selectedId={list?.id ?? null} openCounts={open} linkTo={linkTo} onCreate={createList} onPick={() => setLostName(null)} />
        <div className="min-w-0 space-y-5">
          {lostName ? <Alert tone="info">The list "{lostName}" was deleted or is no longer shared with you.</Alert> : null}

          {list ? <ListHeader key={list.id} list={list} taskCount={counts.all} act={act} /> : null}

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

          {writable ? (
            <AddTaskForm onAdd={add} />
          ) : (
            <p className="text-sm text-slate-600 dark:text-slate-400">You can see this list, but not change it.</p>
          )}

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
              {emptyMessage(filter, counts, !writable)}
            </p>
          ) : (
            <ul className="space-y-2" aria-label={`${FILTERS.find((f) => f.value === filter)?.label ?? 'All'} tasks`}>
              {/* One list, so a task that turns "gone" keeps its element and the text typed into it. */}
              {[...shown, ...gone].map((task) => {
                // A list that turned read-only (the user became a viewer) ends its edits.
            const base = writable ? (editing[task.id] ?? null) : null
                const isGone = gone.includes(task)
                return (
                  <TaskItem
                    key={task.id}
                    task={task}
                    base={base}
                    gone={isGone}
                    readOnly={!writable}
                    moveTo={moveTo}
                    unsynced={unsynced.has(task.id)}
                    onToggle={() => toggle(task)}
                    onStartEdit={() => startEdit(task)}
                    onCancel={() => stopEdit(task.id)}
                    onSave={(title, description, toList) => (isGone ? saveAsNew(base ?? task, title, description) : save(base ?? task, title, description, toList))}
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
      </div>
    </div>
  )
}

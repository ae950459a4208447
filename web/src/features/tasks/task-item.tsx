import { useEffect, useRef, useState, type KeyboardEvent } from 'react'

import { Button } from '../../components/ui/button'
import { focusRing } from '../../components/ui/focus'
import { inputClass } from '../../components/ui/text-field'
import type { Task } from '../../lib/sync/types'

/** The id of a task's done checkbox (focus returns there). */
export const doneId = (taskId: string) => `done-${taskId}`

/**
 * One task: a done checkbox, the text, and inline editing (double-click or
 * Edit; Enter saves, Escape cancels). While editing, `base` is the task as it
 * was when editing began: the save is judged against it. `gone`: the task
 * was deleted elsewhere while being edited; the typed text stays, and saving
 * makes it a new task. `readOnly` (a list the user may only view): no
 * checkbox, no editing, no delete. `moveTo`: the lists the task may be moved
 * to while editing, its own included (none: no choice shown).
 */
export function TaskItem({
  task,
  base,
  gone = false,
  readOnly = false,
  moveTo = [],
  unsynced,
  onToggle,
  onStartEdit,
  onCancel,
  onSave,
  onDelete,
}: {
  task: Task
  base: Task | null
  gone?: boolean
  readOnly?: boolean
  moveTo?: readonly { id: string; name: string }[]
  /** The task has writes not yet acknowledged by the server. */
  unsynced: boolean
  onToggle: () => void
  onStartEdit: () => void
  onCancel: () => void
  /** The typed text and the list chosen: the parent decides what to write. */
  onSave: (title: string, description: string, listId: string) => void
  onDelete: () => void
}) {
  const editing = base !== null
  const [title, setTitle] = useState(task.title)
  const [description, setDescription] = useState(task.description ?? '')
  const [listId, setListId] = useState(task.listId)
  const titleRef = useRef<HTMLInputElement>(null)
  const editButtonRef = useRef<HTMLButtonElement>(null)
  const wasEditing = useRef(false)

  useEffect(() => {
    if (editing) titleRef.current?.select()
    else if (wasEditing.current) editButtonRef.current?.focus()
    wasEditing.current = editing
  }, [editing])

  const startEdit = () => {
    setTitle(task.title)
    setDescription(task.description ?? '')
    setListId(task.listId)
    onStartEdit()
  }

  const save = () => {
    if (!title.trim()) {
      titleRef.current?.focus()
      return
    }
    onSave(title, description, listId)
  }

  const onKey = (event: KeyboardEvent<HTMLInputElement | HTMLTextAreaElement>) => {
    if (event.key === 'Escape') {
      event.preventDefault()
      onCancel()
    } else if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault()
      save()
    }
  }

  if (base) {
    return (
      <li className="rounded-lg bg-white p-3 ring-2 ring-indigo-500 dark:bg-slate-900">
        <div className="space-y-2">
          {gone ? (
            <p role="alert" className="text-sm text-amber-800 dark:text-amber-300">
              "{base.title}" was deleted on another device while you were editing it. Your text is kept here: save it as a new task, or cancel.
            </p>
          ) : null}
          <input
            ref={titleRef}
            aria-label={`Title of "${base.title}"`}
            dir="auto"
            required
            maxLength={256}
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            onKeyDown={onKey}
            className={inputClass}
          />
          <textarea
            aria-label={`Description of "${base.title}"`}
            dir="auto"
            placeholder="Description (optional)"
            maxLength={10_000}
            rows={2}
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            onKeyDown={onKey}
            className={`${inputClass} text-sm`}
          />
          {moveTo.length > 1 && !gone ? (
            <label className="flex items-center gap-2 text-sm text-slate-700 dark:text-slate-300">
              List
              <select
                aria-label={`List of "${base.title}"`}
                value={listId}
                onChange={(e) => setListId(e.target.value)}
                className={`rounded-md border-0 bg-white py-1.5 pl-2 pr-7 text-sm text-slate-900 ring-1 ring-inset ring-slate-300 dark:bg-slate-900 dark:text-slate-100 dark:ring-slate-700 ${focusRing}`}
              >
                {moveTo.map((l) => (
                  <option key={l.id} value={l.id}>
                    {l.name}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <p className="text-xs text-slate-500 dark:text-slate-400">Enter saves, Shift+Enter starts a new line, Escape cancels.</p>
          <div className="flex justify-end gap-2">
            <Button size="sm" variant="secondary" onClick={onCancel}>
              Cancel
            </Button>
            <Button size="sm" onClick={save} disabled={!title.trim()}>
              {gone ? 'Save as a new task' : 'Save'}
            </Button>
          </div>
        </div>
      </li>
    )
  }

  if (readOnly) {
    return (
      <li className="flex items-start gap-3 rounded-lg bg-white p-3 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800">
        <span
          aria-hidden="true"
          className={`mt-0.5 grid size-5 shrink-0 place-items-center rounded text-xs sm:mt-1 sm:size-4 ${task.done ? 'bg-slate-500 text-white dark:bg-slate-400 dark:text-slate-900' : 'ring-1 ring-inset ring-slate-400'}`}
        >
          {task.done ? '✓' : ''}
        </span>
        <div className="min-w-0 flex-1">
          <p dir="auto" className={`break-words ${task.done ? 'text-slate-500 line-through dark:text-slate-400' : ''}`}>
            <span className="sr-only">{task.done ? 'Done: ' : 'Not done: '}</span>
            {task.title}
          </p>
          {task.description ? (
            <p dir="auto" className="mt-0.5 whitespace-pre-wrap break-words text-sm text-slate-600 dark:text-slate-400">
              {task.description}
            </p>
          ) : null}
        </div>
      </li>
    )
  }

  return (
    <li className="group flex items-start gap-3 rounded-lg bg-white p-3 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800">
      <input
        type="checkbox"
        id={doneId(task.id)}
        checked={task.done}
        onChange={onToggle}
        aria-label={`Done: "${task.title}"`}
        className={`mt-0.5 size-6 shrink-0 cursor-pointer rounded accent-indigo-600 sm:mt-1 sm:size-4 ${focusRing}`}
      />
      <div className="min-w-0 flex-1" onDoubleClick={startEdit}>
        <p dir="auto" className={`break-words ${task.done ? 'text-slate-500 line-through dark:text-slate-400' : ''}`}>
          {task.title}
        </p>
        {task.description ? (
          <p dir="auto" className="mt-0.5 whitespace-pre-wrap break-words text-sm text-slate-600 dark:text-slate-400">
            {task.description}
          </p>
        ) : null}
        {unsynced ? (
          <p className="mt-1 text-xs text-amber-700 dark:text-amber-400" title="Saved on this device; it will be sent when the server is reachable.">
            Not yet synced
          </p>
        ) : null}
      </div>
      <div className="flex shrink-0 gap-1">
        <Button ref={editButtonRef} size="sm" variant="ghost" onClick={startEdit} aria-label={`Edit "${task.title}"`}>
          Edit
        </Button>
        <Button size="sm" variant="ghost" onClick={onDelete} aria-label={`Delete "${task.title}"`} className="text-rose-700 dark:text-rose-400">
          Delete
        </Button>
      </div>
    </li>
  )
}

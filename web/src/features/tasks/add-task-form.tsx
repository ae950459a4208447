import { useRef, useState, type FormEvent } from 'react'

import { Button } from '../../components/ui/button'
import { inputClass } from '../../components/ui/text-field'

/** The id of the new-task title field (focus goes there when the list has nothing else). */
export const NEW_TASK_ID = 'new-task-title'

/** Adds a task: a required title, an optional description; Enter submits. */
export function AddTaskForm({ onAdd }: { onAdd: (title: string, description: string | null) => void }) {
  const [title, setTitle] = useState('')
  const [description, setDescription] = useState('')
  const titleRef = useRef<HTMLInputElement>(null)

  const submit = (event: FormEvent) => {
    event.preventDefault()
    const t = title.trim()
    if (!t) {
      titleRef.current?.focus()
      return
    }
    onAdd(t, description.trim() || null)
    setTitle('')
    setDescription('')
    titleRef.current?.focus()
  }

  return (
    <form onSubmit={submit} aria-label="Add a task" className="flex flex-col gap-2 sm:flex-row sm:items-start">
      <div className="flex-1 space-y-2">
        <input
          ref={titleRef}
          id={NEW_TASK_ID}
          aria-label="New task title"
          autoFocus
          dir="auto"
          placeholder="What needs doing?"
          required
          maxLength={256}
          value={title}
          onChange={(e) => setTitle(e.target.value)}
          className={inputClass}
        />
        <input
          aria-label="New task description (optional)"
          dir="auto"
          placeholder="Description (optional)"
          maxLength={10_000}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          className={`${inputClass} text-sm`}
        />
      </div>
      <Button type="submit" disabled={!title.trim()}>
        Add task
      </Button>
    </form>
  )
}

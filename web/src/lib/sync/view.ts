// What the user sees: the server-confirmed replica with the pending
// (optimistic) writes laid over it, in order. Keeping the two apart means
// a server image is always judged by version against server images only.

import type { Replica } from './replica'
import { personalList, visibleTasks } from './replica'
import type { Outbox } from './outbox'
import type { Task } from './types'

export function overlay(replica: Replica, outbox: Outbox, now: string): Replica {
  let tasks = replica.tasks
  const personal = personalList(replica)?.id ?? ''
  for (const w of outbox.pending) {
    const held = tasks[w.id]
    switch (w.kind) {
      case 'create':
        if (!held)
          tasks = {
            ...tasks,
            [w.id]: {
              id: w.id,
              title: w.title,
              description: w.description,
              done: w.done,
              owner: '',
              createdAt: now,
              updatedAt: now,
              version: 0,
              deleted: false,
              listId: w.listId ?? personal,
            },
          }
        break
      case 'update':
        if (held && !held.deleted) {
          const patched: Task = { ...held, updatedAt: now }
          if (w.title !== undefined) patched.title = w.title
          if (w.description !== undefined) patched.description = w.description
          if (w.done !== undefined) patched.done = w.done
          if (w.listId !== undefined) patched.listId = w.listId
          tasks = { ...tasks, [w.id]: patched }
        }
        break
      case 'delete':
        if (held) tasks = { ...tasks, [w.id]: { ...held, deleted: true } }
        break
    }
  }
  return { ...replica, tasks }
}

export function viewTasks(replica: Replica, outbox: Outbox, now: string): Task[] {
  return visibleTasks(overlay(replica, outbox, now))
}

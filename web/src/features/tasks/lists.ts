// Pure helpers of the lists: which one is shown, who shared it, what the
// user may do in it, and what to say when a list action fails.

import type { ListResult, ListRole, Task, TaskList } from '../../lib/sync/types'

/** The most characters a list name has (the server's limit). */
export const LIST_NAME_MAX = 100

/**
 * The list to show: the one named in the address (`/tasks?list=id`), else
 * the personal list. null while no list is known yet (the replica has not
 * synced): the personal list's id is then still known (`personalId`).
 */
export function selectList(lists: readonly TaskList[], requested: string | undefined, personalId: string | null): TaskList | null {
  return lists.find((l) => l.id === requested) ?? lists.find((l) => l.personal) ?? lists.find((l) => l.id === personalId) ?? null
}

/** The owner's address when the user does not own the list (the "shared by" mark), else null. */
export function sharedBy(list: TaskList): string | null {
  if (list.role === 'OWNER') return null
  return list.members.find((m) => m.role === 'OWNER')?.email ?? null
}

/** The members besides the owner. */
export function guests(list: TaskList): TaskList['members'] {
  return list.members.filter((m) => m.role !== 'OWNER')
}

/** Whether the user may add, change and delete the list's tasks. */
export const canWrite = (list: TaskList | null): boolean => list === null || list.role !== 'VIEWER'

/** Whether the user may rename the list. */
export const canRename = (list: TaskList): boolean => list.role === 'OWNER'

/** Whether the user may share the list and delete it (the owner, and never the personal list). */
export const canManage = (list: TaskList): boolean => list.role === 'OWNER' && !list.personal

/** Whether the user may leave the list (a member that is not its owner). */
export const canLeave = (list: TaskList): boolean => list.role !== 'OWNER' && !list.personal

/** The tasks not done, per list id. */
export function openCounts(tasks: readonly Task[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const t of tasks) if (!t.done) counts[t.listId] = (counts[t.listId] ?? 0) + 1
  return counts
}

export const ROLE_LABELS: Record<ListRole, string> = { OWNER: 'Owner', EDITOR: 'Can edit', VIEWER: 'Can view' }

/** What is wrong with a list name, or null. */
export function listNameError(name: string): string | null {
  const trimmed = name.trim()
  if (!trimmed) return 'Give the list a name.'
  if ([...trimmed].length > LIST_NAME_MAX) return `A list name has at most ${LIST_NAME_MAX} characters.`
  return null
}

/** What is wrong with an address to share with, or null (the server has the last word). */
export function emailError(email: string): string | null {
  const trimmed = email.trim()
  if (!trimmed) return 'Enter the e-mail address to share with.'
  if (!/^[^\s@]+@[^\s@]+$/.test(trimmed)) return 'That does not look like an e-mail address.'
  return null
}

/** What to tell the user when a list action failed. */
export function listActionError(result: Extract<ListResult, { ok: false }>): string {
  switch (result.code) {
    case 'NETWORK':
    case 'NO_TOKEN':
      return 'You are offline: lists can only be changed while connected. Try again when you are back online.'
    case 'FORBIDDEN':
      return 'Only the owner of this list can do that.'
    case 'NOT_FOUND':
      return 'This list no longer exists, or it is no longer shared with you.'
    case 'BAD_USER_INPUT':
      return result.message.replace(/^./, (c) => c.toUpperCase())
    case 'UNAUTHENTICATED':
      return 'Your session has expired. Sign in again and retry.'
    default:
      return 'Something went wrong on the server. Please try again.'
  }
}

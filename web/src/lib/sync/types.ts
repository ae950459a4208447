// The shapes of schema.graphql that the sync engine works with.

export interface Task {
  id: string
  title: string
  description: string | null
  done: boolean
  owner: string
  createdAt: string
  updatedAt: string
  /** 1 on create, +1 on every change: the newer version wins. */
  version: number
  /** A tombstone: kept in the replica, never shown. */
  deleted: boolean
}

export type ChangeOp = 'CREATE' | 'UPDATE' | 'DELETE'

export interface TaskChange {
  op: ChangeOp
  task: Task
  cursor: string
}

export interface SyncPage {
  items: Task[]
  nextToken: string | null
  cursor: string
  fullSync: boolean
}

/** The fields of a task that a user edits. */
export type TaskFields = Partial<Pick<Task, 'title' | 'description' | 'done'>>

/** A write the user made, waiting to reach the server (in order). */
export type PendingWrite =
  | { kind: 'create'; id: string; title: string; description: string | null; done: boolean }
  | {
      kind: 'update'
      id: string
      expectedVersion: number
      title?: string
      description?: string | null
      done?: boolean
      /**
       * What the fields set here were in the version expected (what the
       * user changed them from), so that a conflict is judged field by
       * field (`outbox.rebaseFields`). Never sent to the server.
       */
      was?: TaskFields
    }
  | {
      kind: 'delete'
      id: string
      expectedVersion: number
      /**
       * Epoch milliseconds until which the delete is held on the device and
       * not sent: the undo window. Undo takes a held delete back out of the
       * outbox; it is never sent before then, so there is nothing to undo on
       * the server. Never sent to the server.
       */
      holdUntil?: number
    }

/** What the server said to a pending write. */
export type WriteResult =
  | { ok: true; task: Task }
  | { ok: false; code: 'CONFLICT'; current: Task }
  | { ok: false; code: 'NOT_FOUND' | 'BAD_USER_INPUT' | 'UNAUTHENTICATED' | 'INTERNAL' | 'NETWORK'; message: string }

export type UpdateWrite = Extract<PendingWrite, { kind: 'update' }>

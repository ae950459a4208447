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
  /** The list the task is in (every task is in exactly one). */
  listId: string
}

/** The caller's role in a list: OWNER and EDITOR write its tasks, VIEWER only reads them. */
export type ListRole = 'OWNER' | 'EDITOR' | 'VIEWER'

export interface ListMember {
  email: string
  role: ListRole
  /** Invited, not yet joined. */
  pending: boolean
}

/** A list of tasks, shared or the user's personal one. */
export interface TaskList {
  /** The personal list's id is the user's id. */
  id: string
  name: string
  /** Exactly one per user; it cannot be shared, left or deleted. */
  personal: boolean
  /** The signed-in user's role in it. */
  role: ListRole
  /** The owner first (role OWNER), then the others by e-mail address. */
  members: ListMember[]
  /** 1 on create, +1 on rename, share, role change and unshare. */
  version: number
  /** A tombstone: the list was deleted, or the user lost access to it. Never kept. */
  deleted: boolean
  createdAt: string
  updatedAt: string
}

/**
 * What a change did. REMOVE: the task (or list) left the user's view
 * (access lost, moved to a list the user cannot see); it is dropped, never
 * kept as a tombstone.
 */
export type ChangeOp = 'CREATE' | 'UPDATE' | 'DELETE' | 'REMOVE'

/** One change of the user's stream: exactly one of `task` and `list` is set. */
export interface TaskChange {
  op: ChangeOp
  task: Task | null
  list?: TaskList | null
  cursor: string
}

export interface SyncPage {
  items: Task[]
  /** On the first page of a sync only: every list (full sync) or the lists changed since `lastSync`, lost ones as tombstones. */
  lists: TaskList[]
  nextToken: string | null
  cursor: string
  fullSync: boolean
}

/** The fields of a task that a user edits (`listId`: moving it to another list). */
export type TaskFields = Partial<Pick<Task, 'title' | 'description' | 'done' | 'listId'>>

/**
 * A write the user made, waiting to reach the server (in order). `jid`
 * names it in the write-ahead journal (`storage.Journal`) until the stored
 * outbox has it.
 */
export type PendingWrite = { jid?: string } & (
  | {
      kind: 'create'
      id: string
      title: string
      description: string | null
      done: boolean
      /** The list to create it in; absent: the personal list. */
      listId?: string
    }
  | {
      kind: 'update'
      id: string
      expectedVersion: number
      title?: string
      description?: string | null
      done?: boolean
      /** Moves the task to this list (write access to both is needed). */
      listId?: string
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
)

/** What the server said to a pending write. */
export type WriteResult =
  | { ok: true; task: Task }
  | { ok: false; code: 'CONFLICT'; current: Task }
  | { ok: false; code: 'NOT_FOUND' | 'BAD_USER_INPUT' | 'FORBIDDEN' | 'UNAUTHENTICATED' | 'INTERNAL' | 'NETWORK'; message: string }

export type UpdateWrite = Extract<PendingWrite, { kind: 'update' }>

/** A change of a list itself: made directly on the server (it needs the network), never queued. */
export type ListAction =
  | { kind: 'create'; id: string; name: string }
  | { kind: 'rename'; id: string; name: string }
  | { kind: 'delete'; id: string }
  | { kind: 'share'; listId: string; email: string; role: Exclude<ListRole, 'OWNER'> }
  | { kind: 'unshare'; listId: string; email: string }
  | { kind: 'leave'; listId: string }

/** What the server said to a list action: the list as it is now (a tombstone after delete; null after leave). */
export type ListResult = { ok: true; list: TaskList | null } | { ok: false; code: string; message: string }

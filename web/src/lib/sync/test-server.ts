// An in-memory stand-in for the server's sync contract, for unit tests of
// the engine: versions, a per-user change log with cursors, full and delta
// sync, expectedVersion conflicts, and lists as one user sees them (shared
// with them, role changes, access lost). (The real server is exercised by
// the browser end-to-end tests.)

import type { SubscriptionEnd, Transport } from './engine'
import type { ChangeOp, ListAction, ListResult, ListRole, PendingWrite, SyncPage, Task, TaskChange, TaskList, WriteResult } from './types'

/** The user's id, which is also their personal list's. */
export const USER = 'u'

export class TestServer {
  /** The tasks the user may see, tombstones of deleted ones included. */
  tasks = new Map<string, Task>()
  /** Tombstones of tasks that left the user's view (REMOVE), for delta sync. */
  removed = new Map<string, Task>()
  /** The lists the user may see. */
  lists = new Map<string, TaskList>([[USER, TestServer.list(USER, 'Personal', 'OWNER', { personal: true })]])
  /** Tombstones of lists the user lost, for delta sync. */
  lostLists = new Map<string, TaskList>()
  log: TaskChange[] = []
  /** Changes at or below this seq were trimmed by retention. */
  trimmedTo = 0
  online = true
  private subscribers = new Set<{ after: number; next: (c: TaskChange) => void; end: (e: SubscriptionEnd) => void }>()
  private clock = 0

  private now(): string {
    this.clock += 1
    return new Date(Date.UTC(2026, 0, 1, 0, 0, 0, this.clock)).toISOString()
  }

  static cursor(seq: number): string {
    return `c${seq}`
  }

  static seq(cursor: string): number {
    return Number(cursor.slice(1))
  }

  static list(id: string, name: string, role: ListRole, extra: Partial<TaskList> = {}): TaskList {
    const at = '2026-01-01T00:00:00.000Z'
    return { id, name, personal: false, role, members: [{ email: 'owner@example.test', role: 'OWNER', pending: false }], version: 1, deleted: false, createdAt: at, updatedAt: at, ...extra }
  }

  /** Appends a change to the log and sends it to the live subscriptions. */
  private push(op: ChangeOp, about: { task: Task } | { list: TaskList }): void {
    const change: TaskChange = { op, task: null, list: null, ...about, cursor: TestServer.cursor(this.log.length + 1) }
    this.log.push(change)
    for (const s of this.subscribers) if (TestServer.seq(change.cursor) > s.after) s.next(change)
  }

  /** Whether the user may write tasks of list `id`: NOT_FOUND, FORBIDDEN or null. */
  private refuse(id: string): WriteResult | null {
    const list = this.lists.get(id)
    if (!list) return { ok: false, code: 'NOT_FOUND', message: 'list not found' }
    if (list.role === 'VIEWER') return { ok: false, code: 'FORBIDDEN', message: 'you may only view this list' }
    return null
  }

  /** A list shared with the user: it arrives, then its tasks (made by `apply` with its `listId`). */
  share(id: string, name: string, role: ListRole = 'EDITOR'): TaskList {
    const list = TestServer.list(id, name, role, { createdAt: this.now() })
    this.lostLists.delete(id)
    this.lists.set(id, list)
    this.push('CREATE', { list })
    return list
  }

  /** The user's role in list `id` changes. */
  setRole(id: string, role: ListRole): void {
    const held = this.lists.get(id)
    if (!held) throw new Error(`no list ${id}`)
    const list = { ...held, role, version: held.version + 1, updatedAt: this.now() }
    this.lists.set(id, list)
    this.push('UPDATE', { list })
  }

  /** The user loses list `id` (unshared, left; `op` DELETE: deleted): each of its tasks as REMOVE, then the list. */
  revoke(id: string, op: 'REMOVE' | 'DELETE' = 'REMOVE'): TaskList {
    const held = this.lists.get(id)
    if (!held) throw new Error(`no list ${id}`)
    for (const task of [...this.tasks.values()]) if (task.listId === id && !task.deleted) this.remove(task.id)
    for (const task of [...this.tasks.values()]) if (task.listId === id) this.tasks.delete(task.id)
    const list = { ...held, deleted: true, version: held.version + 1, updatedAt: this.now() }
    this.lists.delete(id)
    this.lostLists.set(id, list)
    this.push(op, { list })
    return list
  }

  /** Task `id` leaves the user's view (moved to a list they cannot see): REMOVE with a tombstone one version on. */
  remove(id: string): void {
    const held = this.tasks.get(id)
    if (!held) throw new Error(`no task ${id}`)
    const task = { ...held, deleted: true, version: held.version + 1, updatedAt: this.now() }
    this.tasks.delete(id)
    this.removed.set(id, task)
    this.push('REMOVE', { task })
  }

  /** A task (as it is elsewhere) comes into the user's view: a move-in, op CREATE. */
  moveIn(task: Task): void {
    this.removed.delete(task.id)
    this.tasks.set(task.id, task)
    this.push('CREATE', { task })
  }

  apply(write: PendingWrite): WriteResult {
    const held = this.tasks.get(write.id)
    const now = this.now()
    let task: Task
    switch (write.kind) {
      case 'create': {
        if (held) return { ok: true, task: held }
        const listId = write.listId ?? USER
        const refused = this.refuse(listId)
        if (refused) return refused
        task = { id: write.id, title: write.title, description: write.description, done: write.done, owner: USER, createdAt: now, updatedAt: now, version: 1, deleted: false, listId }
        break
      }
      case 'update': {
        if (!held || held.deleted) return { ok: false, code: 'NOT_FOUND', message: 'task not found' }
        const refused = this.refuse(held.listId) ?? (write.listId !== undefined ? this.refuse(write.listId) : null)
        if (refused) return refused
        if (held.version !== write.expectedVersion) return { ok: false, code: 'CONFLICT', current: held }
        task = { ...held, updatedAt: now, version: held.version + 1 }
        if (write.title !== undefined) task.title = write.title
        if (write.description !== undefined) task.description = write.description
        if (write.done !== undefined) task.done = write.done
        if (write.listId !== undefined) task.listId = write.listId
        break
      }
      case 'delete':
        if (!held) return { ok: false, code: 'NOT_FOUND', message: 'task not found' }
        if (held.deleted) return { ok: true, task: held }
        if (this.refuse(held.listId)) return this.refuse(held.listId) as WriteResult
        if (held.version !== write.expectedVersion) return { ok: false, code: 'CONFLICT', current: held }
        task = { ...held, deleted: true, updatedAt: now, version: held.version + 1 }
        break
    }
    this.tasks.set(task.id, task)
    this.push(write.kind === 'create' ? 'CREATE' : write.kind === 'update' ? 'UPDATE' : 'DELETE', { task })
    return { ok: true, task }
  }

  /** A list action, as the server answers it (the user owns what they create). */
  listWrite(action: ListAction): ListResult {
    switch (action.kind) {
      case 'create': {
        const list = TestServer.list(action.id, action.name, 'OWNER', { createdAt: this.now() })
        this.lists.set(list.id, list)
        this.push('CREATE', { list })
        return { ok: true, list }
      }
      case 'rename':
      case 'share':
      case 'unshare': {
        const id = action.kind === 'rename' ? action.id : action.listId
        const held = this.lists.get(id)
        if (!held) return { ok: false, code: 'NOT_FOUND', message: 'list not found' }
        if (held.role !== 'OWNER') return { ok: false, code: 'FORBIDDEN', message: 'only the owner may do that' }
        let members = held.members
        if (action.kind === 'share') members = [...members.filter((m) => m.email !== action.email), { email: action.email, role: action.role, pending: true }]
        if (action.kind === 'unshare') members = members.filter((m) => m.email !== action.email)
        const list = { ...held, name: action.kind === 'rename' ? action.name : held.name, members, version: held.version + 1, updatedAt: this.now() }
        this.lists.set(id, list)
        this.push('UPDATE', { list })
        return { ok: true, list }
      }
      case 'delete':
        if (!this.lists.has(action.id)) return { ok: false, code: 'NOT_FOUND', message: 'list not found' }
        return { ok: true, list: this.revoke(action.id, 'DELETE') }
      case 'leave':
        if (!this.lists.has(action.listId)) return { ok: false, code: 'NOT_FOUND', message: 'list not found' }
        this.revoke(action.listId)
        return { ok: true, list: null }
    }
  }

  /** Drops every live subscription, as a lost connection does. */
  disconnect(): void {
    for (const s of this.subscribers) s.end({ kind: 'closed', reason: 'connection lost' })
    this.subscribers.clear()
  }

  /** Closes every live subscription with `code`, as a server that stops does (1012 service restart). */
  restart(code: number): void {
    for (const s of this.subscribers) s.end({ kind: 'closed', reason: 'service restart', code })
    this.subscribers.clear()
  }

  transport(): Transport {
    return {
      syncPage: async (lastSync, nextToken): Promise<SyncPage> => {
        if (!this.online) throw new Error('offline')
        const head = this.log.length
        const after = nextToken === null ? 0 : Number(nextToken)
        const full = lastSync === null || TestServer.seq(lastSync) < this.trimmedTo
        const since = (id: string, what: 'task' | 'list') => this.log.some((c, i) => i + 1 > TestServer.seq(lastSync ?? 'c0') && c[what]?.id === id)
        const all = full
          ? [...this.tasks.values()].filter((t) => !t.deleted)
          : [...this.tasks.values(), ...this.removed.values()].filter((t) => since(t.id, 'task'))
        const lists = full ? [...this.lists.values()] : [...this.lists.values(), ...this.lostLists.values()].filter((l) => since(l.id, 'list'))
        const items = all.slice(after, after + 2)
        const more = after + 2 < all.length
        return { items, lists: after === 0 ? lists : [], nextToken: more ? String(after + 2) : null, cursor: TestServer.cursor(head), fullSync: full }
      },
      subscribe: (after, onChange, onEnd, onReady) => {
        const seq = TestServer.seq(after)
        if (seq < this.trimmedTo) {
          queueMicrotask(() => onEnd({ kind: 'cursor-expired' }))
          return () => {}
        }
        const sub = { after: seq, next: onChange, end: onEnd }
        for (const c of this.log.slice(seq)) onChange(c)
        this.subscribers.add(sub)
        queueMicrotask(onReady)
        return () => this.subscribers.delete(sub)
      },
      write: async (write) => {
        if (!this.online) return { ok: false, code: 'NETWORK', message: 'offline' }
        return this.apply(write)
      },
      listWrite: async (action) => {
        if (!this.online) return { ok: false, code: 'NETWORK', message: 'offline' }
        return this.listWrite(action)
      },
    }
  }
}

/** A snapshot store in memory. */
export function memoryStore(): import('./storage').SnapshotStore & { saved: number } {
  let value: import('./storage').Snapshot | null = null
  const store = {
    saved: 0,
    async load() {
      return value === null ? null : structuredClone(value)
    },
    async save(s: import('./storage').Snapshot) {
      value = structuredClone(s)
      store.saved += 1
    },
    async update(change: (current: import('./storage').Snapshot | null) => import('./storage').Snapshot) {
      value = structuredClone(change(value === null ? null : structuredClone(value)))
      store.saved += 1
      return structuredClone(value)
    },
  }
  return store
}

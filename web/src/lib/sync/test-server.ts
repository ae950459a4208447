// An in-memory stand-in for the server's sync contract, for unit tests of
// the engine: versions, a per-user change log with cursors, full and delta
// sync, expectedVersion conflicts. (The real server is exercised by the
// browser end-to-end tests.)

import type { SubscriptionEnd, Transport } from './engine'
import type { PendingWrite, SyncPage, Task, TaskChange, WriteResult } from './types'

export class TestServer {
  tasks = new Map<string, Task>()
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

  apply(write: PendingWrite): WriteResult {
    const held = this.tasks.get(write.id)
    const now = this.now()
    let task: Task
    switch (write.kind) {
      case 'create':
        if (held) return { ok: true, task: held }
        task = { id: write.id, title: write.title, description: write.description, done: write.done, owner: 'u', createdAt: now, updatedAt: now, version: 1, deleted: false }
        break
      case 'update':
        if (!held || held.deleted) return { ok: false, code: 'NOT_FOUND', message: 'task not found' }
        if (held.version !== write.expectedVersion) return { ok: false, code: 'CONFLICT', current: held }
        task = { ...held, updatedAt: now, version: held.version + 1 }
        if (write.title !== undefined) task.title = write.title
        if (write.description !== undefined) task.description = write.description
        if (write.done !== undefined) task.done = write.done
        break
      case 'delete':
        if (!held) return { ok: false, code: 'NOT_FOUND', message: 'task not found' }
        if (held.deleted) return { ok: true, task: held }
        if (held.version !== write.expectedVersion) return { ok: false, code: 'CONFLICT', current: held }
        task = { ...held, deleted: true, updatedAt: now, version: held.version + 1 }
        break
    }
    this.tasks.set(task.id, task)
    const change: TaskChange = { op: write.kind === 'create' ? 'CREATE' : write.kind === 'update' ? 'UPDATE' : 'DELETE', task, cursor: TestServer.cursor(this.log.length + 1) }
    this.log.push(change)
    for (const s of this.subscribers) if (TestServer.seq(change.cursor) > s.after) s.next(change)
    return { ok: true, task }
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
        const all = full
          ? [...this.tasks.values()].filter((t) => !t.deleted)
          : [...this.tasks.values()].filter((t) => this.log.some((c, i) => i + 1 > TestServer.seq(lastSync ?? 'c0') && c.task.id === t.id))
        const items = all.slice(after, after + 2)
        const more = after + 2 < all.length
        return { items, nextToken: more ? String(after + 2) : null, cursor: TestServer.cursor(head), fullSync: full }
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

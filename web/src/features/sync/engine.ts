// The sync engine: a local replica kept equal to the server.
//
// On start it shows the stored replica at once, then runs `syncTasks` from
// the stored cursor (a full sync when told), then subscribes to
// `taskChanges(after: cursor)`, so nothing falls between the two. Writes
// apply optimistically (an overlay on the replica) and go through an
// outbox, one at a time and in order. When the connection drops it
// reconnects with exponential backoff and jitter and resumes from the
// cursor.

import type { ConflictNotice, Outbox } from './outbox'
import { emptyOutbox, enqueue, rebase, settleHead } from './outbox'
import type { Replica } from './replica'
import { applyChange, applySyncPage, applyTask, emptyReplica } from './replica'
import type { SnapshotStore } from './storage'
import type { PendingWrite, SyncPage, Task, TaskChange, WriteResult } from './types'
import { viewTasks } from './view'

/** Why a subscription ended. */
export type SubscriptionEnd = { kind: 'cursor-expired' } | { kind: 'closed'; reason: string }

/** The server, as the engine needs it (GraphQL over HTTP and WebSocket). */
export interface Transport {
  syncPage(lastSync: string | null, nextToken: string | null): Promise<SyncPage>
  /** Starts `taskChanges(after)`; returns a function that stops it. */
  subscribe(after: string, onChange: (change: TaskChange) => void, onEnd: (end: SubscriptionEnd) => void): () => void
  write(write: PendingWrite): Promise<WriteResult>
}

export type Status = 'offline' | 'syncing' | 'live'

export interface EngineEvents {
  /** The tasks to show changed. */
  onTasks?(tasks: Task[]): void
  onStatus?(status: Status): void
  /** A local edit lost to a newer version on the server. */
  onConflict?(notice: ConflictNotice): void
}

export interface EngineOptions {
  backoffBaseMs?: number
  backoffMaxMs?: number
  random?: () => number
  now?: () => string
  sleep?: (ms: number) => Promise<void>
}

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter in [50 %, 100 %]. */
export function backoff(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling * (0.5 + random() / 2))
}

export class SyncEngine {
  private replica: Replica = emptyReplica()
  private outbox: Outbox = emptyOutbox()
  private stop: (() => void) | null = null
  private flushing = false
  private attempt = 0
  private retryAttempt = 0
  private retryScheduled = false
  private closed = false
  private status: Status = 'offline'
  private readonly opts: Required<EngineOptions>

  constructor(
    private readonly store: SnapshotStore,
    private readonly transport: Transport,
    private readonly events: EngineEvents = {},
    options: EngineOptions = {},
  ) {
    this.opts = {
      backoffBaseMs: options.backoffBaseMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      random: options.random ?? Math.random,
      now: options.now ?? (() => new Date().toISOString()),
      sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    }
  }

  tasks(): Task[] {
    return viewTasks(this.replica, this.outbox, this.opts.now())
  }

  cursor(): string | null {
    return this.replica.cursor
  }

  pending(): readonly PendingWrite[] {
    return this.outbox.pending
  }

  /** Shows the stored replica, then syncs and goes live. */
  async start(): Promise<void> {
    const snapshot = await this.store.load()
    if (snapshot) {
      this.replica = snapshot.replica
      this.outbox = snapshot.outbox
    }
    this.emit()
    await this.connect()
  }

  /** Stops the subscription; the replica stays stored. */
  close(): void {
    this.closed = true
    this.stop?.()
    this.stop = null
    this.setStatus('offline')
  }

  /** Makes a write: shown at once, sent in order. */
  async write(write: PendingWrite): Promise<void> {
    this.outbox = enqueue(this.outbox, write)
    await this.save()
    this.emit()
    await this.flush()
  }

  private async connect(): Promise<void> {
    while (!this.closed) {
      try {
        this.setStatus('syncing')
        await this.sync()
        this.subscribe()
        this.attempt = 0
        this.setStatus('live')
        await this.flush()
        return
      } catch {
        this.setStatus('offline')
        const delay = backoff(this.attempt++, this.opts.backoffBaseMs, this.opts.backoffMaxMs, this.opts.random)
        await this.opts.sleep(delay)
      }
    }
  }

  private async sync(): Promise<void> {
    let next: string | null = null
    let first = true
    const lastSync = this.replica.cursor
    do {
      const page = await this.transport.syncPage(lastSync, next)
      this.replica = applySyncPage(this.replica, page, first)
      first = false
      next = page.nextToken
    } while (next !== null)
    await this.save()
    this.emit()
  }

  private subscribe(): void {
    const after = this.replica.cursor
    if (after === null) throw new Error('no cursor after a sync')
    this.stop = this.transport.subscribe(
      after,
      (change) => {
        this.replica = applyChange(this.replica, change.task, change.cursor)
        void this.save()
        this.emit()
      },
      (end) => {
        this.stop = null
        if (end.kind === 'cursor-expired') this.replica = { ...this.replica, cursor: null }
        if (!this.closed) void this.connect()
      },
    )
  }

  /** Sends the outbox, head first, one write in flight at a time. */
  private async flush(): Promise<void> {
    if (this.flushing || this.status !== 'live') return
    this.flushing = true
    try {
      while (this.outbox.pending.length > 0) {
        const head = this.outbox.pending[0]
        if (!head) break
        const settled = settleHead(this.outbox, await this.transport.write(head))
        this.outbox = settled.outbox
        if (settled.outcome === 'retry') {
          this.scheduleRetry()
          break
        }
        this.retryAttempt = 0
        if (settled.outcome === 'applied') {
          this.replica = applyTask(this.replica, settled.task)
          this.outbox = rebase(this.outbox, settled.task)
        }
        if (settled.outcome === 'conflict') {
          this.replica = applyTask(this.replica, settled.notice.server)
          this.events.onConflict?.(settled.notice)
        }
        await this.save()
        this.emit()
      }
    } finally {
      this.flushing = false
    }
  }

  /** Sends the outbox again later, after a write failed for a passing reason. */
  private scheduleRetry(): void {
    if (this.retryScheduled || this.closed) return
    this.retryScheduled = true
    const delay = backoff(this.retryAttempt++, this.opts.backoffBaseMs, this.opts.backoffMaxMs, this.opts.random)
    void this.opts.sleep(delay).then(() => {
      this.retryScheduled = false
      if (!this.closed) void this.flush()
    })
  }

  private async save(): Promise<void> {
    await this.store.save({ replica: this.replica, outbox: this.outbox })
  }

  private emit(): void {
    this.events.onTasks?.(this.tasks())
  }

  private setStatus(status: Status): void {
    if (this.status === status) return
    this.status = status
    this.events.onStatus?.(status)
  }
}

// The sync engine: a local replica kept equal to the server.
//
// On start it shows the stored replica at once, then runs `syncTasks` from
// the stored cursor (a full sync when told), then subscribes to
// `taskChanges(after: cursor)`, so nothing falls between the two. Writes
// apply optimistically (an overlay on the replica) and go through an
// outbox, one at a time and in order. When the connection drops, a write
// fails to reach the server or the browser goes offline, it says so and
// reconnects with exponential backoff and jitter, resuming from the cursor;
// the network coming back (`wake`) cuts the wait short. A socket the server
// closed because it is stopping (1012 service restart, 1001 going away) is
// no failure: the engine stays "syncing", waits a random moment (up to a
// second, so a node's clients do not all arrive at once) and resumes, most
// likely on another node.
//
// One engine per signed-in user and tab, started once. Writes made before
// the stored snapshot is loaded are queued behind the stored outbox, never
// replaced by it. A delete is held in the (stored) outbox for its undo
// window, so a reload or a closed tab cannot lose it. The outbox and the
// notices are shared by the user's tabs: every change of them is made to
// the stored record (`commit`), other tabs are told (`onShared`) and
// follow (`refresh`), and one tab at a time sends (`lock`).
//
// Lists come on the same stream. A list the user loses (unshared, left,
// deleted) goes from the replica with all its tasks, and the writes still
// queued for it become refused notices. Changes of lists themselves
// (create, rename, share, leave, delete) are not queued: they need the
// network, and their answer is applied at once (`listAction`).

import type { ConflictNotice, Draft, Notice, Outbox, Settled } from './outbox'
import { draftOf, emptyOutbox, enqueue, isHeld, nextRelease, nextToSend, rebase, releaseHolds, settle, takeLostWrites, withdraw } from './outbox'
import type { Replica } from './replica'
import { applyList, applyStreamChange, applySyncPage, applyTask, emptyReplica, fromStored, lostLists, removeList, visibleLists } from './replica'
import type { Journal, SnapshotStore } from './storage'
import type { ListAction, ListResult, PendingWrite, SyncPage, Task, TaskChange, TaskList, WriteResult } from './types'
import { overlay, viewTasks } from './view'

/** Why a subscription ended; `code` is the socket's close code, when it closed. */
export type SubscriptionEnd = { kind: 'cursor-expired' } | { kind: 'closed'; reason: string; code?: number }

/** The server, as the engine needs it (GraphQL over HTTP and WebSocket). */
export interface Transport {
  syncPage(lastSync: string | null, nextToken: string | null): Promise<SyncPage>
  /**
   * Starts `taskChanges(after)`; `onReady` once the server has accepted the
   * socket. Returns a function that stops it (no `onEnd` after that).
   */
  subscribe(after: string, onChange: (change: TaskChange) => void, onEnd: (end: SubscriptionEnd) => void, onReady: () => void): () => void
  write(write: PendingWrite): Promise<WriteResult>
  /** Changes a list on the server (never queued: a failure is the caller's to show). */
  listWrite(action: ListAction): Promise<ListResult>
}

export type Status = 'offline' | 'syncing' | 'live'

export interface EngineEvents {
  /** The tasks to show changed (of every list). */
  onTasks?(tasks: Task[]): void
  /** The lists changed (personal first). */
  onLists?(lists: TaskList[]): void
  onStatus?(status: Status): void
  /** The notices to show changed (a write not applied: conflict, task gone, refused). */
  onNotices?(notices: readonly Notice[]): void
  /** A local edit lost to a newer version on the server (also one of the notices). */
  onConflict?(notice: ConflictNotice): void
  /** The server refused the access token (HTTP 401, socket close 4403): it expired, or the session was revoked. */
  onUnauthorized?(): void
  /** The shared outbox or notices changed: the user's other tabs should `refresh`. */
  onShared?(): void
}

/** What the user's tabs share. */
interface Shared {
  outbox: Outbox
  notices: Notice[]
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** The socket close code for a refused or expired token (graphql-transport-ws, tasksync). */
const FORBIDDEN_CLOSE = 4403
/** Close codes of a server that stops on purpose (1012 service restart, 1001 going away): resume soon, without saying "offline". */
const RESTART_CLOSES: ReadonlySet<number> = new Set([1012, 1001])

const noJournal: Journal = { entries: () => [], add: () => {}, remove: () => {}, clear: () => {} }

/** A delete inside its undo window, and the task it hides. */
export interface HeldDelete {
  task: Task
  holdUntil: number
}

export interface EngineOptions {
  backoffBaseMs?: number
  backoffMaxMs?: number
  /** The longest random wait before resuming after a server restart (1012, 1001). */
  restartJitterMs?: number
  random?: () => number
  now?: () => string
  /** Epoch milliseconds (undo windows). */
  clock?: () => number
  sleep?: (ms: number) => Promise<void>
  /** Runs `fn` while no other tab of the user sends (Web Locks); by default at once. */
  lock?: <T>(fn: () => Promise<T>) => Promise<T>
  /** The write-ahead journal of this user's writes (see `storage.Journal`); none by default. */
  journal?: Journal
  /** Names a write in the journal. */
  newId?: () => string
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
  private connecting = false
  private attempt = 0
  private retryAttempt = 0
  private retryScheduled = false
  private closed = false
  private status: Status = 'offline'
  private noticeList: Notice[] = []
  /** Writes made in this tab and not yet in the stored outbox, oldest first. */
  private uncommitted: PendingWrite[] = []
  /** Per task, the versions this engine's own writes made (so an edit begun before them does not conflict with them). */
  private readonly own = new Map<string, Set<number>>()
  private started = false
  private loaded: Promise<void> | null = null
  private wakeUp: (() => void) | null = null
  private releaseTimer: ReturnType<typeof setTimeout> | null = null
  /** The lists last told to `onLists`, to tell only changes. */
  private shownLists: Replica['lists'] | null = null
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
      restartJitterMs: options.restartJitterMs ?? 1_000,
      random: options.random ?? Math.random,
      now: options.now ?? (() => new Date().toISOString()),
      clock: options.clock ?? Date.now,
      sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      lock: options.lock ?? ((fn) => fn()),
      journal: options.journal ?? noJournal,
      newId: options.newId ?? (() => crypto.randomUUID()),
    }
  }

  tasks(): Task[] {
    return viewTasks(this.replica, this.outbox, this.opts.now())
  }

  /** The lists the user may see: the personal list first, then oldest first. */
  lists(): TaskList[] {
    return visibleLists(this.replica)
  }

  cursor(): string | null {
    return this.replica.cursor
  }

  pending(): readonly PendingWrite[] {
    return this.outbox.pending
  }

  notices(): readonly Notice[] {
    return this.noticeList
  }

  /**
   * The version a write of task `id` must expect when the user began it on
   * version `seen` (an edit takes its version when editing starts, so a
   * change made elsewhere meanwhile is a conflict, not overwritten): `seen`,
   * moved past the versions that this engine's own writes made since.
   */
  expectedVersion(id: string, seen: number): number {
    const own = this.own.get(id)
    let version = seen
    while (own?.has(version + 1)) version++
    return version
  }

  /** The deletes still inside their undo window, oldest first. */
  held(): HeldDelete[] {
    const now = this.opts.clock()
    const out: HeldDelete[] = []
    this.outbox.pending.forEach((w, i) => {
      if (w.kind !== 'delete' || w.holdUntil === undefined || !isHeld(w, now)) return
      const before = overlay(this.replica, { pending: this.outbox.pending.slice(0, i) }, this.opts.now())
      const task = before.tasks[w.id]
      if (task) out.push({ task, holdUntil: w.holdUntil })
    })
    return out
  }

  /**
   * Shows the stored replica, then syncs and goes live. Runs once: an engine
   * lives as long as its user's session.
   */
  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    this.loaded = (async () => {
      const snapshot = await this.store.load()
      if (snapshot) this.replica = fromStored(snapshot.replica)
      // Writes of an earlier visit that the stored outbox never got (the
      // page went away while it was being stored) come back from the
      // journal, before those made while the snapshot was loading.
      const stored = new Set((snapshot?.outbox.pending ?? []).map((w) => w.jid))
      const mine = new Set(this.uncommitted.map((w) => w.jid))
      const stranded = this.opts.journal.entries().filter((w) => w.jid && !stored.has(w.jid) && !mine.has(w.jid))
      this.uncommitted = [...stranded, ...this.uncommitted]
      // Writes made while the snapshot was loading go after the stored ones.
      await this.commit()
    })()
    await this.loaded
    this.emit()
    this.emitNotices()
    await this.connect()
  }

  /** Stops the subscription; the replica stays stored. */
  close(): void {
    this.closed = true
    this.stop?.()
    this.stop = null
    if (this.releaseTimer !== null) clearTimeout(this.releaseTimer)
    this.releaseTimer = null
    this.wakeUp?.()
    this.setStatus('offline')
  }

  /**
   * Cuts a reconnect back-off short and starts it over (a token arrived,
   * the network is back), and sends what waits.
   */
  wake(): void {
    this.attempt = 0
    this.retryAttempt = 0
    this.wakeUp?.()
    void this.flush()
  }

  /** The browser lost the network: say so now, not when a write or the socket times out. */
  offline(): void {
    if (!this.closed) this.reconnect()
  }

  /** Makes a write: shown at once, stored, sent in order. */
  async write(made: PendingWrite): Promise<void> {
    // In the journal before it is shown: a reload a moment later keeps it.
    const write: PendingWrite = { ...made, jid: made.jid ?? this.opts.newId() }
    this.opts.journal.add(write)
    this.uncommitted.push(write)
    this.outbox = enqueue(this.outbox, write)
    this.emit()
    // Before the snapshot is loaded, storing this write would come before
    // the stored outbox: start() stores it once it has that.
    if (this.loaded === null) return
    await this.loaded
    await this.commit()
    this.emit()
    await this.flush()
  }

  /** Undo: takes a held delete of `id` back out of the outbox. false when it is no longer held (sent or its time is up). */
  async undoDelete(id: string): Promise<boolean> {
    const now = this.opts.clock()
    let taken = false
    let gone: PendingWrite[] = []
    await this.commit((shared) => {
      const next = withdraw(shared.outbox, id, now)
      taken = next !== null
      if (next) gone = shared.outbox.pending.filter((w) => !next.pending.includes(w))
      return next ? { ...shared, outbox: next } : shared
    })
    // Withdrawn: the journal must not bring it back either.
    this.opts.journal.remove(new Set(gone.flatMap((w) => (w.jid ? [w.jid] : []))))
    this.emit()
    return taken
  }

  async dismiss(notice: Notice): Promise<void> {
    this.noticeList = this.noticeList.filter((n) => n !== notice)
    this.emitNotices()
    await this.commit((shared) => ({ ...shared, notices: shared.notices.filter((n) => !same(n, notice)) }))
    this.emitNotices()
  }

  /** Restores the task of a "gone" notice as a new task (the old id is a tombstone on the server). */
  async restore(notice: Notice & { kind: 'gone' }, id: string): Promise<void> {
    await this.dismiss(notice)
    // Back into its list while the user may still write there; else into the personal list.
    const { listId, ...draft } = notice.draft
    const list = listId === undefined ? undefined : this.replica.lists[listId]
    await this.write({ kind: 'create', id, ...draft, ...(list && list.role !== 'VIEWER' ? { listId: list.id } : {}) })
  }

  /**
   * Changes a list on the server and applies the answer at once (the same
   * change arrives on the stream later, and is then no news). Leaving or
   * deleting a list takes it and its tasks out of the replica, and its
   * queued writes become notices.
   */
  async listAction(action: ListAction): Promise<ListResult> {
    const result = await this.transport.listWrite(action)
    if (!result.ok || this.closed || this.loaded === null) return result
    await this.loaded
    const before = this.replica
    if (action.kind === 'leave') this.replica = removeList(this.replica, action.listId)
    else if (result.list) this.replica = applyList(this.replica, result.list)
    if (this.replica !== before) {
      await this.commit(this.settleLost(before))
      this.emit()
      this.emitNotices()
    }
    return result
  }

  /** Another tab changed the shared outbox or notices: show them, and send what waits. */
  async refresh(): Promise<void> {
    if (this.loaded === null || this.closed) return
    await this.loaded
    await this.commit()
    this.emit()
    this.emitNotices()
    await this.flush()
  }

  /**
   * Before sign-out: ends the undo windows and sends the outbox, waiting up
   * to `timeoutMs` while live. Returns how many writes are still unsent.
   */
  async drain(timeoutMs: number): Promise<number> {
    await this.loaded
    const now = this.opts.clock()
    await this.commit((shared) => ({ ...shared, outbox: releaseHolds(shared.outbox, now) }))
    this.emit()
    const deadline = Date.now() + timeoutMs
    while (this.outbox.pending.length > 0 && this.status === 'live' && Date.now() < deadline) {
      await this.flush()
      if (this.outbox.pending.length > 0) await new Promise((r) => setTimeout(r, 100))
    }
    return this.outbox.pending.length
  }

  /** Syncs and subscribes until live, waiting between failed attempts; one loop at a time. */
  private async connect(): Promise<void> {
    if (this.connecting) return
    this.connecting = true
    try {
      while (!this.closed) {
        try {
          this.setStatus('syncing')
          await this.sync()
          await this.subscribe()
          this.attempt = 0
          this.setStatus('live')
          break
        } catch (error) {
          this.stop?.()
          this.stop = null
          this.setStatus('offline')
          if (error instanceof Error && 'code' in error && error.code === 'UNAUTHENTICATED') this.events.onUnauthorized?.()
          const delay = backoff(this.attempt++, this.opts.backoffBaseMs, this.opts.backoffMaxMs, this.opts.random)
          await Promise.race([this.opts.sleep(delay), new Promise<void>((r) => (this.wakeUp = r))])
          this.wakeUp = null
        }
      }
    } finally {
      this.connecting = false
    }
    await this.flush()
  }

  /** The connection is not to be trusted (a write failed, the browser went offline): drop it and connect again. */
  private reconnect(): void {
    this.stop?.()
    this.stop = null
    this.setStatus('offline')
    void this.connect()
  }

  /** The server closed the socket because it is stopping: connect again after a short random wait, still "syncing". */
  private resume(): void {
    this.setStatus('syncing')
    const delay = Math.round(this.opts.random() * this.opts.restartJitterMs)
    void this.opts.sleep(delay).then(() => {
      // Unless something else connected meanwhile (a wake, a failed write).
      if (!this.closed && this.stop === null && !this.connecting) void this.connect()
    })
  }

  private async sync(): Promise<void> {
    let next: string | null = null
    let first = true
    let full = false
    const before = this.replica
    const lastSync = this.replica.cursor
    do {
      const page = await this.transport.syncPage(lastSync, next)
      this.replica = applySyncPage(this.replica, page, first)
      first = false
      full = page.fullSync
      next = page.nextToken
    } while (next !== null)
    await this.commit(this.settleLost(before, !full))
    this.emit()
    this.emitNotices()
  }

  /**
   * When lists held in `before` are gone from the replica (lost, left,
   * deleted), or tasks that left the user's view (REMOVE; `tasksToo`, which
   * a full sync is not: its missing tasks may just be deleted, and are
   * told as such when their write is refused): the change of the stored
   * outbox and notices that takes their queued writes out as refused
   * notices. Judged on the stored outbox, so the writes of every tab are
   * settled, each once.
   */
  private settleLost(before: Replica, tasksToo = true): ((shared: Shared) => Shared) | undefined {
    const lists = lostLists(before, this.replica)
    const tasks = new Set(tasksToo ? Object.keys(before.tasks).filter((id) => !(id in this.replica.tasks)) : [])
    if (lists.size === 0 && tasks.size === 0) return undefined
    const listOf: Record<string, string> = {}
    for (const t of Object.values(before.tasks)) listOf[t.id] = t.listId
    const now = this.opts.now()
    return (shared) => {
      const { outbox, taken } = takeLostWrites(shared.outbox, listOf, lists, tasks)
      if (taken.length === 0) return shared
      const shown = overlay(before, shared.outbox, now).tasks
      const notices: Notice[] = taken.map(({ write, listId }) => {
        const task = shown[write.id]
        const name = before.lists[listId ?? task?.listId ?? '']?.name
        const reason =
          listId !== undefined
            ? `you no longer have access to the list${name ? ` "${name}"` : ''}.`
            : `you no longer have access to it${name ? ` (it was in the list "${name}")` : ''}.`
        return { kind: 'refused', write, reason, ...(task?.title ? { title: task.title } : {}) }
      })
      return { outbox, notices: [...shared.notices, ...notices] }
    }
  }

  /** Subscribes after the cursor; settles when the server accepted the socket (or it ended first). */
  private subscribe(): Promise<void> {
    const after = this.replica.cursor
    if (after === null) throw new Error('no cursor after a sync')
    return new Promise((ready, failed) => {
      let up = false
      const stop = this.transport.subscribe(
        after,
        (change) => {
          const before = this.replica
          this.replica = applyStreamChange(this.replica, change)
          const lost = this.settleLost(before)
          if (lost) void this.commit(lost).then(() => this.emitNotices())
          else void this.commit()
          this.emit()
        },
        (end) => {
          this.stop = null
          if (end.kind === 'cursor-expired') this.replica = { ...this.replica, cursor: null }
          if (end.kind === 'closed' && end.code === FORBIDDEN_CLOSE) this.events.onUnauthorized?.()
          if (!up) failed(new Error(`subscription ended: ${end.kind}`))
          else if (this.closed) return
          else if (end.kind === 'closed' && end.code !== undefined && RESTART_CLOSES.has(end.code)) this.resume()
          else this.reconnect()
        },
        () => {
          up = true
          ready()
        },
      )
      this.stop = () => {
        stop()
        failed(new Error('subscription stopped'))
      }
    })
  }

  /**
   * Sends the outbox in order, one write in flight at a time and one tab
   * at a time; held deletes wait out their undo window. Each answer is
   * settled on the stored outbox, which other tabs may have added to.
   */
  private async flush(): Promise<void> {
    if (this.flushing || this.status !== 'live' || this.loaded === null) return
    this.flushing = true
    try {
      await this.loaded
      await this.opts.lock(async () => {
        // Another tab may have sent some of it while it held the lock.
        await this.commit()
        while (!this.closed && this.status === 'live') {
          const sent = nextToSend(this.outbox, this.opts.clock())
          if (!sent) break
          const result = await this.transport.write(sent)
          // A closed engine leaves its outbox to the next one (which resends; a create is idempotent).
          if (this.closed) break
          const settled = settle(this.outbox, sent, result)
          if (settled.outcome === 'retry') {
            if (!result.ok && result.code === 'UNAUTHENTICATED') this.events.onUnauthorized?.()
            // A write that cannot reach the server means the connection is gone, whatever the socket says.
            if (!result.ok && result.code === 'NETWORK') this.reconnect()
            else this.scheduleRetry()
            break
          }
          this.retryAttempt = 0
          const notices = this.noticesOf(settled, sent)
          this.applyOutcome(settled)
          await this.commit((shared) => {
            const stored = settle(shared.outbox, sent, result)
            return { outbox: stored.outcome === 'applied' ? rebase(stored.outbox, stored.task) : stored.outbox, notices: [...shared.notices, ...notices] }
          })
          this.emit()
          if (notices.length > 0) this.emitNotices()
        }
      })
    } finally {
      this.flushing = false
    }
  }

  /** What the server's answer to a write does to the replica. */
  private applyOutcome(settled: Settled): void {
    switch (settled.outcome) {
      case 'applied':
        this.own.set(settled.task.id, (this.own.get(settled.task.id) ?? new Set()).add(settled.task.version))
        this.replica = applyTask(this.replica, settled.task)
        break
      case 'merged':
        this.replica = applyTask(this.replica, settled.server)
        break
      case 'conflict':
        this.replica = applyTask(this.replica, settled.notice.server)
        this.events.onConflict?.(settled.notice)
        break
      default:
        break
    }
  }

  /** The notices a settled write leaves for the user. */
  private noticesOf(settled: Settled, sent: PendingWrite): Notice[] {
    switch (settled.outcome) {
      case 'conflict':
        return [{ kind: 'conflict', ...settled.notice }]
      case 'gone': {
        const draft: Draft | null = draftOf(this.replica.tasks[sent.id], settled.dropped)
        return draft ? [{ kind: 'gone', id: sent.id, draft }] : []
      }
      case 'refused':
        return [{ kind: 'refused', write: sent, reason: settled.reason }]
      default:
        return []
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

  /**
   * Stores this tab's replica together with the shared outbox and notices
   * as `change` leaves them, applied to what is stored now (so other tabs'
   * writes are kept), with this tab's uncommitted writes appended; then
   * takes those as this tab's and tells the other tabs if they changed.
   */
  private async commit(change: (shared: Shared) => Shared = (shared) => shared): Promise<void> {
    if (this.closed) return
    let before = ''
    let taken = 0
    const next = await this.store.update((current) => {
      const shared = { outbox: current?.outbox ?? emptyOutbox(), notices: current?.notices ?? [] }
      before = JSON.stringify(shared)
      const changed = change(shared)
      taken = this.uncommitted.length
      // Another tab may have stored a write of this one's from the journal.
      const stored = new Set(changed.outbox.pending.map((w) => w.jid))
      const fresh = this.uncommitted.filter((w) => !w.jid || !stored.has(w.jid))
      return { replica: this.replica, outbox: { pending: [...changed.outbox.pending, ...fresh] }, notices: changed.notices }
    })
    // Stored: the journal can let go of them.
    const done = this.uncommitted.slice(0, taken).flatMap((w) => (w.jid ? [w.jid] : []))
    if (done.length > 0) this.opts.journal.remove(new Set(done))
    this.uncommitted = this.uncommitted.slice(taken)
    this.outbox = { pending: [...next.outbox.pending, ...this.uncommitted] }
    this.noticeList = next.notices ?? []
    if (JSON.stringify({ outbox: next.outbox, notices: next.notices }) !== before) this.events.onShared?.()
  }

  private emit(): void {
    this.events.onTasks?.(this.tasks())
    if (this.shownLists !== this.replica.lists) {
      this.shownLists = this.replica.lists
      this.events.onLists?.(this.lists())
    }
    this.scheduleRelease()
  }

  private emitNotices(): void {
    this.events.onNotices?.(this.noticeList)
  }

  /** At the end of the next undo window: show the change, and send the delete. */
  private scheduleRelease(): void {
    if (this.releaseTimer !== null) clearTimeout(this.releaseTimer)
    this.releaseTimer = null
    const now = this.opts.clock()
    const at = nextRelease(this.outbox, now)
    if (at === null || this.closed) return
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = null
      this.emit()
      void this.flush()
    }, at - now + 1)
  }

  private setStatus(status: Status): void {
    if (this.status === status) return
    this.status = status
    this.events.onStatus?.(status)
  }
}

import { describe, expect, it, vi } from 'vitest'

import { SyncEngine, backoff } from './engine'
import { localJournal } from './storage'
import { TestServer, USER, memoryStore } from './test-server'

const noWait = { sleep: async () => {}, random: () => 0.5 }

describe('sync engine', () => {
  it('shows the stored replica at once, then syncs and goes live', async () => {
    const server = new TestServer()
    server.apply({ kind: 'create', id: 'a', title: 'from before', description: null, done: false })
    const store = memoryStore()
    const first = new SyncEngine(store, server.transport(), {}, noWait)
    await first.start()
    first.close()
    server.apply({ kind: 'create', id: 'b', title: 'while away', description: null, done: false })
    const shown: string[][] = []
    const second = new SyncEngine(store, server.transport(), { onTasks: (t) => shown.push(t.map((x) => x.id)) }, noWait)
    await second.start()
    expect(shown[0]).toEqual(['a'])
    expect(second.tasks().map((t) => t.id)).toEqual(['a', 'b'])
    server.apply({ kind: 'update', id: 'a', expectedVersion: 1, done: true })
    expect(second.tasks().find((t) => t.id === 'a')?.done).toBe(true)
    expect(second.cursor()).toBe('c3')
  })

  it('applies writes optimistically and sends them in order', async () => {
    const server = new TestServer()
    const engine = new SyncEngine(memoryStore(), server.transport(), {}, noWait)
    await engine.start()
    await engine.write({ kind: 'create', id: 'a', title: 'one', description: null, done: false })
    await engine.write({ kind: 'update', id: 'a', expectedVersion: 1, title: 'two' })
    await engine.write({ kind: 'delete', id: 'a', expectedVersion: 2 })
    expect(server.log.map((c) => c.op)).toEqual(['CREATE', 'UPDATE', 'DELETE'])
    expect(engine.tasks()).toEqual([])
    expect(engine.pending()).toEqual([])
  })

  it('keeps writes made offline in a stored outbox and replays them in order after reconnecting', async () => {
    const server = new TestServer()
    const store = memoryStore()
    const engine = new SyncEngine(store, server.transport(), {}, noWait)
    await engine.start()
    server.online = false
    await engine.write({ kind: 'create', id: 'a', title: 'offline 1', description: null, done: false })
    await engine.write({ kind: 'create', id: 'b', title: 'offline 2', description: null, done: false })
    expect(engine.tasks().map((t) => t.title)).toEqual(['offline 1', 'offline 2'])
    expect(server.log).toHaveLength(0)
    engine.close()
    server.online = true
    const later = new SyncEngine(store, server.transport(), {}, noWait)
    await later.start()
    expect(server.log.map((c) => c.task?.title)).toEqual(['offline 1', 'offline 2'])
    expect(later.pending()).toEqual([])
  })

  it('sends quick successive edits of one task, and edits of a task created offline, without conflicting with itself', async () => {
    const server = new TestServer()
    const store = memoryStore()
    const engine = new SyncEngine(store, server.transport(), {}, noWait)
    await engine.start()
    server.online = false
    await engine.write({ kind: 'create', id: 'a', title: 'made offline', description: null, done: false })
    await engine.write({ kind: 'update', id: 'a', expectedVersion: 0, done: true })
    await engine.write({ kind: 'update', id: 'a', expectedVersion: 0, title: 'renamed offline' })
    engine.close()
    server.online = true
    const conflicts: string[] = []
    const later = new SyncEngine(store, server.transport(), { onConflict: (n) => conflicts.push(n.server.title) }, noWait)
    await later.start()
    expect(conflicts).toEqual([])
    expect(server.log.map((c) => c.op)).toEqual(['CREATE', 'UPDATE', 'UPDATE'])
    expect(server.tasks.get('a')).toMatchObject({ title: 'renamed offline', done: true, version: 3 })
  })

  it('keeps the server version on a conflict and reports the local edit', async () => {
    const server = new TestServer()
    server.apply({ kind: 'create', id: 'a', title: 'base', description: null, done: false })
    const notices: string[] = []
    const engine = new SyncEngine(memoryStore(), server.transport(), { onConflict: (n) => notices.push(n.server.title) }, noWait)
    await engine.start()
    server.online = false
    await engine.write({ kind: 'update', id: 'a', expectedVersion: 1, title: 'mine' })
    server.online = true
    server.apply({ kind: 'update', id: 'a', expectedVersion: 1, title: 'theirs' })
    server.disconnect()
    await new Promise((r) => setTimeout(r, 0))
    await engine.write({ kind: 'create', id: 'b', title: 'next', description: null, done: false })
    expect(notices).toEqual(['theirs'])
    expect(engine.tasks().find((t) => t.id === 'a')?.title).toBe('theirs')
    expect(server.tasks.get('a')?.version).toBe(2)
  })

  it('resumes from its cursor after a short random wait, without going offline, when the server restarts (1012, 1001)', async () => {
    for (const code of [1012, 1001]) {
      const server = new TestServer()
      server.apply({ kind: 'create', id: 'a', title: 'before', description: null, done: false })
      const statuses: string[] = []
      const waits: number[] = []
      let resume = () => {}
      const sleep = (ms: number) => {
        waits.push(ms)
        return new Promise<void>((r) => (resume = r))
      }
      const engine = new SyncEngine(memoryStore(), server.transport(), { onStatus: (s) => statuses.push(s) }, { sleep, random: () => 0.25 })
      await engine.start()
      expect(statuses.at(-1)).toBe('live')
      statuses.length = 0
      server.restart(code)
      // While it waits, a change is made elsewhere: the resumed subscription brings it, once.
      server.apply({ kind: 'create', id: 'b', title: 'while restarting', description: null, done: false })
      expect(waits).toEqual([250])
      expect(statuses).toEqual(['syncing'])
      resume()
      await vi.waitFor(() => expect(statuses.at(-1)).toBe('live'))
      server.apply({ kind: 'create', id: 'c', title: 'after', description: null, done: false })
      expect(engine.tasks().map((t) => t.id)).toEqual(['a', 'b', 'c'])
      expect(statuses).not.toContain('offline')
      expect(engine.cursor()).toBe('c3')
      engine.close()
    }
  })

  it('says offline and backs off when the connection is lost otherwise', async () => {
    const server = new TestServer()
    const statuses: string[] = []
    const engine = new SyncEngine(memoryStore(), server.transport(), { onStatus: (s) => statuses.push(s) }, noWait)
    await engine.start()
    statuses.length = 0
    server.disconnect()
    await vi.waitFor(() => expect(statuses.at(-1)).toBe('live'))
    expect(statuses[0]).toBe('offline')
    engine.close()
  })

  it('does a full sync when its cursor has expired', async () => {
    const server = new TestServer()
    const store = memoryStore()
    const engine = new SyncEngine(store, server.transport(), {}, noWait)
    await engine.start()
    server.apply({ kind: 'create', id: 'a', title: 'a', description: null, done: false })
    engine.close()
    server.apply({ kind: 'create', id: 'b', title: 'b', description: null, done: false })
    server.apply({ kind: 'delete', id: 'a', expectedVersion: 1 })
    server.trimmedTo = 3
    server.tasks.delete('a')
    const later = new SyncEngine(store, server.transport(), {}, noWait)
    await later.start()
    expect(later.tasks().map((t) => t.id)).toEqual(['b'])
    expect(later.cursor()).toBe('c3')
  })

  it('retries a write that failed for a passing reason without waiting for another write', async () => {
    const server = new TestServer()
    let retried: () => void = () => {}
    const done = new Promise<void>((r) => (retried = r))
    const engine = new SyncEngine(memoryStore(), server.transport(), {}, {
      random: () => 1,
      sleep: async () => {
        server.online = true
        setTimeout(retried, 0)
      },
    })
    await engine.start()
    server.online = false
    await engine.write({ kind: 'create', id: 'a', title: 'flaky network', description: null, done: false })
    await done
    await new Promise((r) => setTimeout(r, 0))
    expect(server.log.map((c) => c.task?.title)).toEqual(['flaky network'])
    expect(engine.pending()).toEqual([])
  })

  it('retries a failed start with growing, jittered delays', async () => {
    const server = new TestServer()
    server.online = false
    const delays: number[] = []
    const engine = new SyncEngine(memoryStore(), server.transport(), {}, {
      random: () => 1,
      sleep: async (ms) => {
        delays.push(ms)
        if (delays.length === 3) server.online = true
      },
    })
    await engine.start()
    expect(delays).toEqual([500, 1000, 2000])
    expect(backoff(40, 500, 30_000, () => 0)).toBe(15_000)
  })

  it('keeps a write made while the stored snapshot is still loading, after the stored ones', async () => {
    const server = new TestServer()
    const store = memoryStore()
    const first = new SyncEngine(store, server.transport(), {}, noWait)
    await first.start()
    server.online = false
    await first.write({ kind: 'create', id: 'a', title: 'stored', description: null, done: false })
    first.close()
    server.online = true
    const later = new SyncEngine(store, server.transport(), {}, noWait)
    const started = later.start()
    await later.write({ kind: 'create', id: 'b', title: 'made while loading', description: null, done: false })
    await started
    await new Promise((r) => setTimeout(r, 0))
    expect(server.log.map((c) => c.task?.title)).toEqual(['stored', 'made while loading'])
    expect(later.pending()).toEqual([])
  })

  it('tells of an edit of a task deleted elsewhere, keeps the notice stored, and restores it as a new task', async () => {
    const server = new TestServer()
    server.apply({ kind: 'create', id: 'a', title: 'base', description: null, done: false })
    const store = memoryStore()
    const engine = new SyncEngine(store, server.transport(), {}, noWait)
    await engine.start()
    server.online = false
    await engine.write({ kind: 'update', id: 'a', expectedVersion: 1, title: 'mine' })
    server.online = true
    server.apply({ kind: 'delete', id: 'a', expectedVersion: 1 })
    server.disconnect()
    await new Promise((r) => setTimeout(r, 0))
    expect(engine.notices()).toEqual([{ kind: 'gone', id: 'a', draft: { title: 'mine', description: null, done: false, listId: 'u' } }])
    engine.close()
    const later = new SyncEngine(store, server.transport(), {}, noWait)
    await later.start()
    const [notice] = later.notices()
    expect(notice?.kind).toBe('gone')
    if (notice?.kind !== 'gone') return
    await later.restore(notice, 'a2')
    expect(later.notices()).toEqual([])
    expect(server.tasks.get('a2')).toMatchObject({ title: 'mine', deleted: false })
  })

  it('holds a delete until its undo window ends; undo takes it back unsent', async () => {
    const server = new TestServer()
    server.apply({ kind: 'create', id: 'a', title: 'a', description: null, done: false })
    server.apply({ kind: 'create', id: 'b', title: 'b', description: null, done: false })
    let now = 1_000
    const engine = new SyncEngine(memoryStore(), server.transport(), {}, { ...noWait, clock: () => now })
    await engine.start()
    await engine.write({ kind: 'delete', id: 'a', expectedVersion: 1, holdUntil: 6_000 })
    await engine.write({ kind: 'delete', id: 'b', expectedVersion: 1, holdUntil: 6_000 })
    expect(engine.tasks()).toEqual([])
    expect(engine.held().map((h) => h.task.title)).toEqual(['a', 'b'])
    expect(await engine.undoDelete('a')).toBe(true)
    now = 6_000
    expect(await engine.undoDelete('b')).toBe(false)
    await engine.drain(1_000)
    expect(server.log.map((c) => c.op)).toEqual(['CREATE', 'CREATE', 'DELETE'])
    expect(engine.tasks().map((t) => t.id)).toEqual(['a'])
    engine.close()
  })

  it('keeps a write the page went away from while it was being stored: the journal brings it back, once', async () => {
    const server = new TestServer()
    server.apply({ kind: 'create', id: 'a', title: 'a', description: null, done: false })
    const items = new Map<string, string>()
    const storage = {
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => void items.set(k, v),
      removeItem: (k: string) => void items.delete(k),
    } as unknown as Storage
    const journal = localJournal('u', storage)
    if (!journal) throw new Error('a journal')
    const memory = memoryStore()
    let frozen = false
    const store = { ...memory, update: (change: Parameters<typeof memory.update>[0]) => (frozen ? new Promise<never>(() => {}) : memory.update(change)) }
    let now = 1_000
    const options = { ...noWait, clock: () => now, journal }
    const first = new SyncEngine(store, server.transport(), {}, options)
    await first.start()
    // A stored write leaves nothing in the journal.
    await first.write({ kind: 'update', id: 'a', expectedVersion: 1, title: 'renamed' })
    expect(journal.entries()).toEqual([])
    // The delete is shown, and the page goes away before IndexedDB has it.
    frozen = true
    void first.write({ kind: 'delete', id: 'a', expectedVersion: 2, holdUntil: 6_000 })
    expect(first.tasks()).toEqual([])
    first.close()
    frozen = false
    const second = new SyncEngine(store, server.transport(), {}, options)
    await second.start()
    expect(second.tasks()).toEqual([])
    expect(second.held().map((h) => h.task.title)).toEqual(['renamed'])
    expect(journal.entries()).toEqual([])
    now = 6_000
    await second.drain(1_000)
    expect(server.log.map((c) => c.op)).toEqual(['CREATE', 'UPDATE', 'DELETE'])
    second.close()
    // An undone delete does not come back from the journal.
    server.apply({ kind: 'create', id: 'b', title: 'b', description: null, done: false })
    const third = new SyncEngine(store, server.transport(), {}, options)
    await third.start()
    await third.write({ kind: 'delete', id: 'b', expectedVersion: 1, holdUntil: 20_000 })
    expect(await third.undoDelete('b')).toBe(true)
    third.close()
    const fourth = new SyncEngine(store, server.transport(), {}, options)
    await fourth.start()
    expect(fourth.tasks().map((t) => t.id)).toEqual(['b'])
    expect(fourth.pending()).toEqual([])
    fourth.close()
  })

  it("shares the stored outbox between tabs: neither erases the other's writes, and either sends them", async () => {
    const server = new TestServer()
    const store = memoryStore()
    const tabs: SyncEngine[] = []
    // Each tab follows the others when told, as BroadcastChannel does.
    const tell = (from: number) => () => tabs.forEach((t, i) => i !== from && void t.refresh())
    // Reconnect attempts while offline wait a macrotask, so the test's timers run.
    const yielding = { random: () => 0.5, sleep: () => new Promise<void>((r) => setTimeout(r, 1)) }
    tabs.push(new SyncEngine(store, server.transport(), { onShared: tell(0) }, yielding))
    tabs.push(new SyncEngine(store, server.transport(), { onShared: tell(1) }, yielding))
    const [one, two] = tabs as [SyncEngine, SyncEngine]
    await one.start()
    await two.start()
    server.online = false
    await one.write({ kind: 'create', id: 'a', title: 'from one', description: null, done: false })
    await two.write({ kind: 'create', id: 'b', title: 'from two', description: null, done: false })
    await new Promise((r) => setTimeout(r, 0))
    expect(one.tasks().map((t) => t.title)).toEqual(['from one', 'from two'])
    expect(two.tasks().map((t) => t.title)).toEqual(['from one', 'from two'])
    two.close()
    server.online = true
    one.wake()
    await vi.waitFor(() => expect(one.pending()).toEqual([]))
    expect(server.log.map((c) => c.task?.title).sort()).toEqual(['from one', 'from two'])
    expect((await store.load())?.outbox.pending).toEqual([])
  })

  describe('shared lists', () => {
    /** A server where list L (shared with the user as `role`) holds tasks a and b, and the personal list holds p. */
    const withList = (role: 'EDITOR' | 'VIEWER' = 'EDITOR') => {
      const server = new TestServer()
      server.apply({ kind: 'create', id: 'p', title: 'personal', description: null, done: false })
      server.share('L', 'Trip', 'EDITOR')
      server.apply({ kind: 'create', id: 'a', title: 'tent', description: null, done: false, listId: 'L' })
      server.apply({ kind: 'create', id: 'b', title: 'map', description: null, done: false, listId: 'L' })
      if (role === 'VIEWER') server.setRole('L', 'VIEWER')
      return server
    }

    it('a full sync brings every list on its first page, whatever the number of pages', async () => {
      const server = withList()
      const engine = new SyncEngine(memoryStore(), server.transport(), {}, noWait)
      await engine.start()
      expect(engine.lists().map((l) => [l.id, l.name])).toEqual([
        [USER, 'Personal'],
        ['L', 'Trip'],
      ])
      expect(engine.tasks().map((t) => [t.id, t.listId])).toEqual([
        ['p', USER],
        ['a', 'L'],
        ['b', 'L'],
      ])
      engine.close()
    })

    it('a list lost live goes at once with every task of it, from the engine and from the stored snapshot', async () => {
      const server = withList()
      const store = memoryStore()
      const lists: string[][] = []
      const engine = new SyncEngine(store, server.transport(), { onLists: (l) => lists.push(l.map((x) => x.id)) }, noWait)
      await engine.start()
      server.apply({ kind: 'delete', id: 'b', expectedVersion: 1 })
      server.revoke('L')
      expect(engine.lists().map((l) => l.id)).toEqual([USER])
      expect(engine.tasks().map((t) => t.id)).toEqual(['p'])
      expect(lists.at(-1)).toEqual([USER])
      await vi.waitFor(async () => {
        const stored = await store.load()
        expect(Object.keys(stored?.replica.lists ?? {})).toEqual([USER])
        // The tombstone of b went too: nothing of the list is kept.
        expect(Object.keys(stored?.replica.tasks ?? {})).toEqual(['p'])
      })
      // A reload shows none of it either.
      engine.close()
      const later = new SyncEngine(store, server.transport(), {}, noWait)
      await later.start()
      expect(later.tasks().map((t) => t.id)).toEqual(['p'])
      later.close()
    })

    it('a list lost while away goes on the next (delta) sync', async () => {
      const server = withList()
      const store = memoryStore()
      const engine = new SyncEngine(store, server.transport(), {}, noWait)
      await engine.start()
      engine.close()
      server.revoke('L', 'DELETE')
      const later = new SyncEngine(store, server.transport(), {}, noWait)
      await later.start()
      expect(later.lists().map((l) => l.id)).toEqual([USER])
      expect(Object.keys((await store.load())?.replica.tasks ?? {})).toEqual(['p'])
      later.close()
    })

    it('a task that left the view and comes back with a lower version than its REMOVE tombstone is shown', async () => {
      const server = withList()
      const engine = new SyncEngine(memoryStore(), server.transport(), {}, noWait)
      await engine.start()
      const a = server.tasks.get('a')
      if (!a) throw new Error('no task a')
      server.remove('a')
      expect(engine.tasks().map((t) => t.id)).toEqual(['p', 'b'])
      server.moveIn({ ...a, title: 'tent, back' })
      expect(engine.tasks().map((t) => t.title)).toEqual(['personal', 'tent, back', 'map'])
      // Lost and shared again: the list and its tasks arrive once more.
      server.revoke('L')
      server.share('L', 'Trip again')
      server.moveIn({ ...a, version: 1 })
      expect(engine.lists().map((l) => l.name)).toEqual(['Personal', 'Trip again'])
      expect(engine.tasks().map((t) => t.id)).toEqual(['p', 'a'])
      engine.close()
    })

    it('writes still queued for a list that was lost become refused notices, are never sent, and survive a reload', async () => {
      const server = withList()
      const store = memoryStore()
      const engine = new SyncEngine(store, server.transport(), {}, noWait)
      await engine.start()
      server.online = false
      await engine.write({ kind: 'update', id: 'a', expectedVersion: 1, done: true })
      await engine.write({ kind: 'create', id: 'c', title: 'stove', description: null, done: false, listId: 'L' })
      await engine.write({ kind: 'update', id: 'p', expectedVersion: 1, title: 'personal, renamed' })
      engine.close()
      server.revoke('L')
      server.online = true
      const later = new SyncEngine(store, server.transport(), {}, noWait)
      await later.start()
      await vi.waitFor(() => expect(later.pending()).toEqual([]))
      expect(later.notices().map((n) => [n.kind, n.kind === 'refused' ? n.title : '', n.kind === 'refused' ? n.reason : ''])).toEqual([
        ['refused', 'tent', 'you no longer have access to the list "Trip".'],
        ['refused', 'stove', 'you no longer have access to the list "Trip".'],
      ])
      expect(server.log.filter((c) => c.task?.id === 'c' || (c.task?.id === 'a' && c.op === 'UPDATE'))).toEqual([])
      expect(server.tasks.get('p')?.title).toBe('personal, renamed')
      later.close()
      const again = new SyncEngine(store, server.transport(), {}, noWait)
      await again.start()
      expect(again.notices()).toHaveLength(2)
      again.close()
    })

    it('a held delete of a task of a list lost live becomes a refused notice', async () => {
      const server = withList()
      const engine = new SyncEngine(memoryStore(), server.transport(), {}, { ...noWait, clock: () => 1_000 })
      await engine.start()
      await engine.write({ kind: 'delete', id: 'a', expectedVersion: 1, holdUntil: 9_000 })
      server.revoke('L')
      await vi.waitFor(() => expect(engine.notices()).toHaveLength(1))
      expect(engine.notices()[0]).toMatchObject({
        kind: 'refused',
        title: 'tent',
        reason: 'you no longer have access to it (it was in the list "Trip").',
        write: { kind: 'delete', id: 'a' },
      })
      expect(engine.pending()).toEqual([])
      expect(engine.held()).toEqual([])
      engine.close()
    })

    it('follows a role change live; a write a viewer is not allowed to make becomes a refused notice', async () => {
      const server = withList()
      const engine = new SyncEngine(memoryStore(), server.transport(), {}, noWait)
      await engine.start()
      server.setRole('L', 'VIEWER')
      expect(engine.lists().find((l) => l.id === 'L')?.role).toBe('VIEWER')
      await engine.write({ kind: 'update', id: 'a', expectedVersion: 1, done: true })
      expect(engine.notices()).toMatchObject([{ kind: 'refused', reason: 'you may only view this list' }])
      expect(engine.tasks().find((t) => t.id === 'a')?.done).toBe(false)
      engine.close()
    })

    it('creates in a list, and moves a task to another list', async () => {
      const server = withList()
      const engine = new SyncEngine(memoryStore(), server.transport(), {}, noWait)
      await engine.start()
      await engine.write({ kind: 'create', id: 'c', title: 'stove', description: null, done: false, listId: 'L' })
      await engine.write({ kind: 'update', id: 'p', expectedVersion: 1, listId: 'L', was: { listId: USER } })
      expect(server.tasks.get('c')?.listId).toBe('L')
      expect(server.tasks.get('p')?.listId).toBe('L')
      expect(engine.tasks().filter((t) => t.listId === 'L').map((t) => t.id)).toEqual(['p', 'a', 'b', 'c'])
      engine.close()
    })

    it('list actions apply their answer at once; leaving or deleting takes the list and its tasks out; a failure is returned', async () => {
      const server = withList()
      const engine = new SyncEngine(memoryStore(), server.transport(), {}, noWait)
      await engine.start()
      expect(await engine.listAction({ kind: 'create', id: 'N', name: 'Groceries' })).toMatchObject({ ok: true, list: { id: 'N', role: 'OWNER' } })
      await engine.listAction({ kind: 'rename', id: 'N', name: 'Food' })
      await engine.listAction({ kind: 'share', listId: 'N', email: 'bo@example.test', role: 'VIEWER' })
      expect(engine.lists().find((l) => l.id === 'N')).toMatchObject({ name: 'Food', members: [{ role: 'OWNER' }, { email: 'bo@example.test', role: 'VIEWER', pending: true }] })
      await engine.listAction({ kind: 'leave', listId: 'L' })
      expect(engine.lists().map((l) => l.id)).toEqual([USER, 'N'])
      expect(engine.tasks().map((t) => t.id)).toEqual(['p'])
      await engine.listAction({ kind: 'delete', id: 'N' })
      expect(engine.lists().map((l) => l.id)).toEqual([USER])
      server.online = false
      expect(await engine.listAction({ kind: 'create', id: 'M', name: 'x' })).toMatchObject({ ok: false, code: 'NETWORK' })
      expect(await engine.listAction({ kind: 'rename', id: USER, name: 'x' })).toMatchObject({ ok: false })
      engine.close()
    })

    it('restores a task deleted elsewhere into its list', async () => {
      const server = withList()
      const engine = new SyncEngine(memoryStore(), server.transport(), {}, noWait)
      await engine.start()
      server.online = false
      await engine.write({ kind: 'update', id: 'a', expectedVersion: 1, title: 'big tent' })
      server.online = true
      server.apply({ kind: 'delete', id: 'a', expectedVersion: 1 })
      server.disconnect()
      await vi.waitFor(() => expect(engine.notices()).toHaveLength(1))
      const [notice] = engine.notices()
      if (notice?.kind !== 'gone') throw new Error('not a gone notice')
      await engine.restore(notice, 'a2')
      expect(server.tasks.get('a2')).toMatchObject({ title: 'big tent', listId: 'L' })
      engine.close()
    })
  })
})

// The sync engine over the real server: the `tasksync` binary built by
// `cargo test` (make test builds it first), started in dev mode on a fresh
// SQLite file, spoken to with fetch and a real WebSocket.

import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

import { AuthClient, AuthError } from '../auth'
import { SyncEngine } from './engine'
import { memoryStore } from './test-server'
import { graphqlTransport } from './transport'
import type { Task } from './types'

const BIN = process.env.TASKSYNC_BIN ?? resolve(__dirname, '../../../../target/debug/tasksync')
const PASSWORD = 'correct horse battery staple'

let server: ChildProcess
let base = ''
let dir = ''

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const address = s.address()
      s.close(() => (typeof address === 'object' && address ? done(address.port) : fail(new Error('no port'))))
    })
  })
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`cargo build -p tasksync-server\` (make test does)`)
  dir = mkdtempSync(join(tmpdir(), 'tasksync-web-'))
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  server = spawn(BIN, ['serve', '--dev', '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, TASKSYNC_DATABASE_URL: `sqlite://${join(dir, 't.db')}`, TASKSYNC_AUTH_RATE_PER_MINUTE: '100000', TASKSYNC_AUTH_RATE_BURST: '100000', RUST_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const end = Date.now() + 30_000
  for (;;) {
    const ok = await fetch(`${base}/healthz`).then((r) => r.ok).catch(() => false)
    if (ok) break
    if (Date.now() > end) throw new Error('the server did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
}, 60_000)

afterAll(() => {
  server?.kill('SIGTERM')
  if (dir) rmSync(dir, { recursive: true, force: true })
})

async function code(email: string, nth: number): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const mails = (await (await fetch(`${base}/dev/mailbox`)).json()) as { to: string; text: string }[]
    const mine = mails.filter((m) => m.to === email)
    const found = mine[nth - 1]?.text.match(/\b\d{6}\b/)
    if (found) return found[0]
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`no code for ${email}`)
}

async function account(tag: string): Promise<{ email: string; token: string; auth: AuthClient }> {
  const auth = new AuthClient(base)
  const email = `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`
  await auth.signUp(email, PASSWORD)
  await auth.confirmSignUp(email, await code(email, 1))
  const tokens = await auth.signIn(email, PASSWORD)
  return { email, token: tokens.accessToken, auth }
}

function engineFor(token: string, store = memoryStore(), onConflict?: (server: Task) => void) {
  const transport = graphqlTransport({ base, token: () => token, webSocketImpl: WebSocket })
  const engine = new SyncEngine(store, transport, onConflict ? { onConflict: (n) => onConflict(n.server) } : {}, { sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))) })
  return { engine, transport, store }
}

describe('against the real server', () => {
  it('runs the account flow and refuses bad credentials with typed errors', async () => {
    const { email, token, auth } = await account('auth')
    expect((await auth.me(token)).email).toBe(email)
    const wrong = await auth.signIn(email, 'wrong horse battery staple').catch((e: unknown) => e)
    expect(wrong).toBeInstanceOf(AuthError)
    expect(wrong).toMatchObject({ status: 401, code: 'NotAuthorized' })
    const weak = await auth.signUp(`weak-${Date.now()}@example.com`, 'password1').catch((e: unknown) => e)
    expect(weak).toMatchObject({ status: 400, code: 'InvalidPassword' })
  })

  it('carries a write of one client to another live, and a later client catches up from its cursor', async () => {
    const { token } = await account('live')
    const a = engineFor(token)
    const b = engineFor(token)
    await a.engine.start()
    await b.engine.start()
    await a.engine.write({ kind: 'create', id: crypto.randomUUID(), title: 'from A', description: null, done: false })
    const seen = await until('B to see the task', () => b.engine.tasks().find((t) => t.title === 'from A'))
    await a.engine.write({ kind: 'update', id: seen.id, expectedVersion: 1, done: true })
    await until('B to see the update', () => b.engine.tasks().find((t) => t.id === seen.id && t.done))
    b.engine.close()
    b.transport.dispose()
    await a.engine.write({ kind: 'delete', id: seen.id, expectedVersion: 2 })
    await a.engine.write({ kind: 'create', id: crypto.randomUUID(), title: 'while B was away', description: null, done: false })
    const later = engineFor(token, b.store)
    await later.engine.start()
    expect(later.engine.tasks().map((t) => t.title)).toEqual(['while B was away'])
    a.engine.close()
    a.transport.dispose()
    later.engine.close()
    later.transport.dispose()
  })

  it('keeps the server version when a local edit conflicts', async () => {
    const { token } = await account('conflict')
    const conflicts: Task[] = []
    const a = engineFor(token, memoryStore(), (t) => conflicts.push(t))
    await a.engine.start()
    const id = crypto.randomUUID()
    await a.engine.write({ kind: 'create', id, title: 'shared', description: null, done: false })
    const other = graphqlTransport({ base, token: () => token })
    expect(await other.write({ kind: 'update', id, expectedVersion: 1, title: 'theirs' })).toMatchObject({ ok: true })
    await a.engine.write({ kind: 'update', id, expectedVersion: 1, title: 'mine' })
    expect(conflicts.map((t) => t.title)).toEqual(['theirs'])
    await until('the server version to show', () => a.engine.tasks().find((t) => t.title === 'theirs'))
    a.engine.close()
    a.transport.dispose()
  })

  it('brings a shared list and its tasks to the member live, both write, and unsharing takes it all from the member, stored copy included', async () => {
    const owner = await account('list-owner')
    const guest = await account('list-guest')
    const a = engineFor(owner.token)
    const b = engineFor(guest.token)
    await a.engine.start()
    await b.engine.start()
    expect(a.engine.lists().map((l) => [l.personal, l.role])).toEqual([[true, 'OWNER']])
    const listId = crypto.randomUUID()
    expect(await a.engine.listAction({ kind: 'create', id: listId, name: 'Shared' })).toMatchObject({ ok: true, list: { id: listId, role: 'OWNER', version: 1 } })
    await a.engine.write({ kind: 'create', id: crypto.randomUUID(), title: 'from A', description: null, done: false, listId })
    expect(await a.engine.listAction({ kind: 'share', listId, email: guest.email, role: 'EDITOR' })).toMatchObject({ ok: true })
    await until('B to see the list', () => b.engine.lists().find((l) => l.id === listId && l.role === 'EDITOR'))
    await until('B to see its task', () => b.engine.tasks().find((t) => t.listId === listId && t.title === 'from A'))
    await b.engine.write({ kind: 'create', id: crypto.randomUUID(), title: 'from B', description: null, done: false, listId })
    await until('A to see the task of B', () => a.engine.tasks().find((t) => t.title === 'from B'))
    expect(b.engine.notices()).toEqual([])

    // A viewer's write is refused, and told.
    await a.engine.listAction({ kind: 'share', listId, email: guest.email, role: 'VIEWER' })
    await until('B to be a viewer', () => b.engine.lists().find((l) => l.id === listId && l.role === 'VIEWER'))
    const fromA = b.engine.tasks().find((t) => t.title === 'from A')
    if (!fromA) throw new Error('no task from A')
    await b.engine.write({ kind: 'update', id: fromA.id, expectedVersion: fromA.version, done: true })
    await until('the refusal', () => b.engine.notices().find((n) => n.kind === 'refused'))

    expect(await a.engine.listAction({ kind: 'unshare', listId, email: guest.email })).toMatchObject({ ok: true })
    await until('B to lose the list and its tasks', () => !b.engine.lists().some((l) => l.id === listId) && !b.engine.tasks().some((t) => t.listId === listId))
    await vi.waitFor(async () => {
      const stored = await b.store.load()
      expect(Object.keys(stored?.replica.lists ?? {}), 'the stored lists of B').not.toContain(listId)
      expect(Object.values(stored?.replica.tasks ?? {}).filter((t) => t.listId === listId), 'the stored tasks of B').toEqual([])
    })
    expect(a.engine.tasks().filter((t) => t.listId === listId).map((t) => t.title)).toEqual(['from A', 'from B'])
    for (const e of [a, b]) {
      e.engine.close()
      e.transport.dispose()
    }
  })
})

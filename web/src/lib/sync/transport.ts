// The engine's Transport over the real server: GraphQL queries and
// mutations with fetch, `taskChanges` over graphql-transport-ws. The
// subscription selects `list`, so it gets the changes of lists too.

import { createClient, type Client } from 'graphql-ws'

import type { SubscriptionEnd, Transport } from './engine'
import type { ListAction, ListResult, PendingWrite, SyncPage, Task, TaskChange, TaskList, WriteResult } from './types'

const TASK = 'id title description done owner createdAt updatedAt version deleted listId'
const LIST = 'id name personal role members { email role pending } version deleted createdAt updatedAt'

/**
 * Tasks per sync page. The server's complexity limit (20,000 by default)
 * counts the page's selection once per task it may hold, the lists
 * included: 1,000 (the default) would exceed it, 500 does not.
 */
export const SYNC_PAGE = 500

export const SYNC = `query Sync($last: String, $next: String) { syncTasks(lastSync: $last, nextToken: $next, limit: ${SYNC_PAGE}) { items { ${TASK} } lists { ${LIST} } nextToken cursor fullSync } }`
export const CHANGES = `subscription Changes($after: String) { taskChanges(after: $after) { op cursor task { ${TASK} } list { ${LIST} } } }`
export const CREATE = `mutation Create($input: CreateTaskInput!) { createTask(input: $input) { ${TASK} } }`
export const UPDATE = `mutation Update($input: UpdateTaskInput!) { updateTask(input: $input) { ${TASK} } }`
export const DELETE = `mutation Delete($input: DeleteTaskInput!) { deleteTask(input: $input) { ${TASK} } }`
export const CREATE_LIST = `mutation CreateList($input: CreateListInput!) { createList(input: $input) { ${LIST} } }`
export const UPDATE_LIST = `mutation UpdateList($input: UpdateListInput!) { updateList(input: $input) { ${LIST} } }`
export const DELETE_LIST = `mutation DeleteList($input: DeleteListInput!) { deleteList(input: $input) { ${LIST} } }`
export const SHARE_LIST = `mutation ShareList($input: ShareListInput!) { shareList(input: $input) { ${LIST} } }`
export const UNSHARE_LIST = `mutation UnshareList($input: UnshareListInput!) { unshareList(input: $input) { ${LIST} } }`
export const LEAVE_LIST = `mutation LeaveList($input: LeaveListInput!) { leaveList(input: $input) }`

/** How often the socket is pinged, and how long a pong may take before the socket counts as dead. */
const KEEP_ALIVE_MS = 5_000
const PONG_WAIT_MS = 3_000
/** How long the server may take to accept a socket (`connection_ack`), and to answer a request. */
const ACK_WAIT_MS = 5_000
const REQUEST_TIMEOUT_MS = 15_000

interface GraphqlError {
  message: string
  extensions?: { code?: string; current?: Task }
}

export interface TransportOptions {
  /** `http(s)://host` of the server; '' for the page's own origin. */
  base: string
  /** The current access token (refreshed by the caller). */
  token: () => string
  fetchImpl?: typeof fetch
  /** A WebSocket class, where the platform has none (Node 20). */
  webSocketImpl?: unknown
}

/** Thrown by `syncPage` on an answer that is not data. */
export class TransportError extends Error {
  constructor(readonly code: string, message: string) {
    super(message)
    this.name = 'TransportError'
  }
}

function wsUrl(base: string): string {
  const origin = base === '' ? globalThis.location.origin : base
  return `${origin.replace(/^http/, 'ws')}/graphql`
}

export function graphqlTransport(options: TransportOptions): Transport & { dispose(): void } {
  const fetchImpl = options.fetchImpl ?? ((...args: Parameters<typeof fetch>) => fetch(...args))
  let client: Client | null = null

  async function post(query: string, variables: Record<string, unknown>): Promise<{ data?: Record<string, unknown>; errors?: GraphqlError[] }> {
    // No access token yet (the app has just started and is refreshing it):
    // sending would only earn a 401. Fail like the network does; the
    // engine tries again when the token arrives (wake).
    const token = options.token()
    if (token === '') throw new TransportError('NO_TOKEN', 'no access token yet')
    const response = await fetchImpl(`${options.base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      // A request the network swallows counts as failed (and the engine as offline), not as pending for minutes.
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    return (await response.json()) as { data?: Record<string, unknown>; errors?: GraphqlError[] }
  }

  /** One socket per subscription: the engine reconnects (with its cursor); graphql-ws must not. */
  function socket(onReady: () => void): Client {
    let pongWait: ReturnType<typeof setTimeout> | undefined
    const c: Client = createClient({
      url: wsUrl(options.base),
      // Fresh token on every (re)connect.
      connectionParams: () => ({ authorization: `Bearer ${options.token()}` }),
      retryAttempts: 0,
      lazy: true,
      connectionAckWaitTimeout: ACK_WAIT_MS,
      // Pings the server; a socket that stops answering is dead (a half-open
      // connection can look open for minutes) and is ended, so the engine
      // says "Offline" and reconnects.
      keepAlive: KEEP_ALIVE_MS,
      on: {
        connected: onReady,
        ping: (received) => {
          if (!received) pongWait = setTimeout(() => c.terminate(), PONG_WAIT_MS)
        },
        pong: (received) => {
          if (received) clearTimeout(pongWait)
        },
        closed: () => clearTimeout(pongWait),
      },
      ...(options.webSocketImpl ? { webSocketImpl: options.webSocketImpl } : {}),
    })
    return c
  }

  return {
    async syncPage(lastSync, nextToken): Promise<SyncPage> {
      const answer = await post(SYNC, { last: lastSync, next: nextToken })
      const error = answer.errors?.[0]
      if (error || !answer.data) throw new TransportError(error?.extensions?.code ?? 'INTERNAL', error?.message ?? 'no data')
      return answer.data.syncTasks as SyncPage
    },

    subscribe(after, onChange, onEnd, onReady) {
      let ended = false
      const c = socket(() => {
        if (!ended) onReady()
      })
      client = c
      const end = (e: SubscriptionEnd) => {
        if (ended) return
        ended = true
        onEnd(e)
        void c.dispose()
      }
      c.subscribe<{ taskChanges: TaskChange }>(
        { query: CHANGES, variables: { after } },
        {
          next: (message) => {
            const change = message.data?.taskChanges
            if (change) onChange(change)
          },
          error: (error) => {
            const errors = Array.isArray(error) ? (error as GraphqlError[]) : []
            const { code, reason } = error as { code?: unknown; reason?: unknown }
            if (errors.some((e) => e.extensions?.code === 'CURSOR_EXPIRED')) end({ kind: 'cursor-expired' })
            else end({ kind: 'closed', reason: String(reason ?? error), ...(typeof code === 'number' ? { code } : {}) })
          },
          complete: () => end({ kind: 'closed', reason: 'completed' }),
        },
      )
      return () => {
        ended = true
        void c.dispose()
      }
    },

    async write(write: PendingWrite): Promise<WriteResult> {
      let answer: Awaited<ReturnType<typeof post>>
      try {
        answer = await mutate(write)
      } catch {
        return { ok: false, code: 'NETWORK', message: 'the server cannot be reached' }
      }
      const error = answer.errors?.[0]
      if (!error && answer.data) {
        const task = Object.values(answer.data)[0] as Task
        return { ok: true, task }
      }
      const code = error?.extensions?.code
      if (code === 'CONFLICT' && error?.extensions?.current) return { ok: false, code, current: error.extensions.current }
      if (code === 'NOT_FOUND' || code === 'BAD_USER_INPUT' || code === 'FORBIDDEN' || code === 'UNAUTHENTICATED') return { ok: false, code, message: error?.message ?? code }
      return { ok: false, code: 'INTERNAL', message: error?.message ?? 'internal error' }
    },

    async listWrite(action: ListAction): Promise<ListResult> {
      let answer: Awaited<ReturnType<typeof post>>
      try {
        answer = await listMutation(action)
      } catch {
        return { ok: false, code: 'NETWORK', message: 'the server cannot be reached' }
      }
      const error = answer.errors?.[0]
      if (error || !answer.data) return { ok: false, code: error?.extensions?.code ?? 'INTERNAL', message: error?.message ?? 'no data' }
      const value = Object.values(answer.data)[0]
      return { ok: true, list: typeof value === 'object' && value !== null ? (value as TaskList) : null }
    },

    dispose() {
      void client?.dispose()
      client = null
    },
  }

  function listMutation(action: ListAction) {
    switch (action.kind) {
      case 'create':
        return post(CREATE_LIST, { input: { id: action.id, name: action.name } })
      case 'rename':
        return post(UPDATE_LIST, { input: { id: action.id, name: action.name } })
      case 'delete':
        return post(DELETE_LIST, { input: { id: action.id } })
      case 'share':
        return post(SHARE_LIST, { input: { listId: action.listId, email: action.email, role: action.role } })
      case 'unshare':
        return post(UNSHARE_LIST, { input: { listId: action.listId, email: action.email } })
      case 'leave':
        return post(LEAVE_LIST, { input: { listId: action.listId } })
    }
  }

  function mutate(write: PendingWrite) {
    switch (write.kind) {
      case 'create': {
        const input = { id: write.id, title: write.title, description: write.description, done: write.done }
        return post(CREATE, { input: write.listId !== undefined ? { ...input, listId: write.listId } : input })
      }
      case 'update': {
        const { kind: _, was: _was, jid: _jid, ...input } = write
        return post(UPDATE, { input })
      }
      case 'delete':
        return post(DELETE, { input: { id: write.id, expectedVersion: write.expectedVersion } })
    }
  }
}

// The server's API straight from a test, to check what reached it
// (not what the app shows).

import { expect, type APIRequestContext } from '@playwright/test'

import { PASSWORD } from './helpers'

/** An access token for `email`, straight from the server. */
export async function apiToken(request: APIRequestContext, email: string): Promise<string> {
  const response = await request.post('/auth/sign-in', { data: { email, password: PASSWORD } })
  expect(response.ok(), await response.text()).toBe(true)
  return ((await response.json()) as { accessToken: string }).accessToken
}

export async function graphql<T>(request: APIRequestContext, token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await request.post('/graphql', { data: { query, variables }, headers: { authorization: `Bearer ${token}` } })
  const body = (await response.json()) as { data?: T; errors?: unknown[] }
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined()
  return body.data as T
}

export interface ServerTask {
  title: string
  done: boolean
}

export async function serverTasks(request: APIRequestContext, token: string): Promise<ServerTask[]> {
  const all: ServerTask[] = []
  let next: string | null = null
  do {
    const data: { tasks: { items: ServerTask[]; nextToken: string | null } } = await graphql(
      request,
      token,
      'query($next: String) { tasks(limit: 1000, nextToken: $next) { items { title done } nextToken } }',
      { next },
    )
    all.push(...data.tasks.items)
    next = data.tasks.nextToken
  } while (next !== null)
  return all
}

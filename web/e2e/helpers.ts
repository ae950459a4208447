import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { expect, type Browser, type BrowserContext, type Locator, type Page, type WebSocketRoute } from '@playwright/test'

export const PASSWORD = 'violet-harbor-engine-47'

export const screenshotDir = join(dirname(fileURLToPath(import.meta.url)), 'screenshots')

export function screenshotPath(name: string): string {
  mkdirSync(screenshotDir, { recursive: true })
  return join(screenshotDir, name)
}

/** An address no other test (or earlier run against the same server) uses. */
export function uniqueEmail(tag: string): string {
  return `e2e-${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.test`
}

/** Reads the newest code sent to `email` from the dev mailbox page. */
export async function codeFromMailboxPage(page: Page, email: string): Promise<string> {
  await page.goto('/mailbox')
  await expect(page.getByRole('heading', { name: 'Dev mailbox' })).toBeVisible()
  // Newest first; the page polls every 3 s, so wait for the message to show up.
  const message = page.getByRole('listitem').filter({ hasText: `To: ${email}` }).first()
  const code = message.getByLabel(/^Code \d{6}$/)
  await expect(code).toBeVisible()
  const text = (await code.textContent())?.trim() ?? ''
  expect(text).toMatch(/^\d{6}$/)
  return text
}

/** Signs in an already confirmed user and waits for the tasks screen to be live. */
export async function signIn(page: Page, email: string): Promise<void> {
  await page.goto(`/sign-in`)
  await page.getByLabel('E-mail', { exact: true }).fill(email)
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page).toHaveURL(/\/tasks$/)
  await expect(page.getByRole('heading', { name: 'Tasks' })).toBeVisible()
  await expect(syncStatus(page)).toHaveText('Live')
}

/** Signs `email` up in the form, reads its code on the /mailbox page and opens the confirm page; the code. */
export async function signUpAndOpenConfirm(page: Page, email: string): Promise<string> {
  await page.goto('/sign-up')
  await page.getByLabel('E-mail', { exact: true }).fill(email)
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Create account' }).click()
  await expect(page).toHaveURL(/\/confirm\?/)
  const code = await codeFromMailboxPage(page, email)
  await page.goto(`/confirm?email=${encodeURIComponent(email)}`)
  return code
}

/** Sign up → code from the /mailbox page → confirm → sign in → /tasks (live). */
export async function signUpAndSignIn(page: Page, email: string, opts: { onSignIn?: (page: Page) => Promise<void> } = {}): Promise<void> {
  const code = await signUpAndOpenConfirm(page, email)
  await expect(page.getByLabel('E-mail', { exact: true })).toHaveValue(email)
  await page.getByLabel('Code', { exact: true }).fill(code)
  await page.getByRole('button', { name: 'Confirm' }).click()

  await expect(page).toHaveURL(/\/sign-in\?/)
  await expect(page.getByText('Your account is confirmed. Sign in to start.')).toBeVisible()
  await expect(page.getByLabel('E-mail', { exact: true })).toHaveValue(email)
  if (opts.onSignIn) await opts.onSignIn(page)
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page).toHaveURL(/\/tasks$/)
  await expect(page.getByRole('heading', { name: 'Tasks' })).toBeVisible()
  await expect(syncStatus(page)).toHaveText('Live')
}

/** A second, separate browser context signed in as the same user. */
export async function secondDevice(browser: Browser, email: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext()
  const page = await context.newPage()
  await signIn(page, email)
  return { context, page }
}

export function syncStatus(page: Page): Locator {
  return page.getByRole('status', { name: 'Sync status' })
}

/** The task list (whatever filter is on). */
export function taskList(page: Page): Locator {
  return page.getByRole('list', { name: /tasks$/ })
}

export async function addTask(page: Page, title: string): Promise<void> {
  const input = page.getByRole('textbox', { name: 'New task title' })
  await input.fill(title)
  await input.press('Enter')
  await expect(taskItem(page, title)).toBeVisible()
}

export function taskItem(page: Page, title: string): Locator {
  return page.getByRole('checkbox', { name: `Done: "${title}"`, exact: true })
}

export async function renameTask(page: Page, from: string, to: string): Promise<void> {
  await page.getByRole('button', { name: `Edit "${from}"`, exact: true }).click()
  const input = page.getByRole('textbox', { name: `Title of "${from}"`, exact: true })
  await input.fill(to)
  await input.press('Enter')
  await expect(taskItem(page, to)).toBeVisible()
}

/**
 * Takes a browser context off the network and back. `context.setOffline(true)`
 * alone fails new requests but leaves an open WebSocket working in Chromium,
 * so the app would stay live; a real outage drops the socket too. This routes
 * the context's WebSockets through Playwright so they can be cut with it.
 * Install before the first page of the context opens its subscription.
 */
export async function networkSwitch(context: BrowserContext): Promise<{ offline: () => Promise<void>; online: () => Promise<void> }> {
  let down = false
  const open = new Set<{ page: WebSocketRoute; server: WebSocketRoute }>()
  await context.routeWebSocket(/\/graphql/, (ws) => {
    if (down) {
      void ws.close({ code: 4000, reason: 'offline (e2e)' })
      return
    }
    const pair = { page: ws, server: ws.connectToServer() }
    open.add(pair)
    ws.onClose(() => open.delete(pair))
  })
  return {
    async offline() {
      down = true
      await context.setOffline(true)
      for (const pair of [...open]) {
        open.delete(pair)
        await pair.server.close().catch(() => {})
        await pair.page.close({ code: 4000, reason: 'offline (e2e)' }).catch(() => {})
      }
    },
    async online() {
      down = false
      await context.setOffline(false)
    },
  }
}

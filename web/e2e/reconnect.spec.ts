// Issue #11, item 8: queued changes go out as soon as the network is back,
// and the badge says "Live" only while the connection really works.

import { expect, test } from '@playwright/test'

import { apiToken, serverTasks } from './api'
import { addTask, signUpAndSignIn, syncStatus, uniqueEmail } from './helpers'

test('going offline shows at once, and a change queued offline goes out the moment the network is back', async ({ context, page, request }) => {
  const email = uniqueEmail('online')
  await signUpAndSignIn(page, email)
  const token = await apiToken(request, email)

  // Stop the page's clock: no back-off or retry timer can fire from here on,
  // so the change can only go out because the browser said it is online.
  await page.clock.install()
  await page.clock.pauseAt(Date.now() + 1_000)

  // Chromium keeps an open WebSocket working when offline; the app must not.
  await context.setOffline(true)
  await expect(syncStatus(page)).toHaveText('Offline')
  await addTask(page, 'Queued while offline')
  await expect(page.getByText('Not yet synced')).toBeVisible()

  await context.setOffline(false)
  await expect(syncStatus(page)).toHaveText('Live')
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  expect((await serverTasks(request, token)).map((t) => t.title)).toEqual(['Queued while offline'])
})

test('a write that cannot reach the server turns the badge from Live to Offline, and goes out once it can', async ({ page, request }) => {
  const email = uniqueEmail('failing-write')
  await signUpAndSignIn(page, email)
  const token = await apiToken(request, email)

  // The socket stays up; only requests to /graphql fail, as behind a broken proxy.
  await page.route('**/graphql', (route) => (route.request().method() === 'POST' ? route.abort('internetdisconnected') : route.fallback()))
  await addTask(page, 'Sent through a broken network')
  await expect(syncStatus(page)).toHaveText('Offline')
  await expect(page.getByText('Not yet synced')).toBeVisible()

  await page.unroute('**/graphql')
  await expect(syncStatus(page)).toHaveText('Live')
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  expect((await serverTasks(request, token)).map((t) => t.title)).toEqual(['Sent through a broken network'])
})

test('a socket that stops answering pings is not shown as live, and the app reconnects when it can', async ({ context, page }) => {
  // Every socket goes through here; `frozen` silences them in both directions
  // (a half-open connection: nothing arrives, nothing is refused).
  let frozen = false
  await context.routeWebSocket(/\/graphql/, (ws) => {
    const server = ws.connectToServer()
    ws.onMessage((message) => {
      if (!frozen) server.send(message)
    })
    server.onMessage((message) => {
      if (!frozen) ws.send(message)
    })
  })
  await signUpAndSignIn(page, uniqueEmail('frozen'))

  frozen = true
  await expect(syncStatus(page)).not.toHaveText('Live')
  frozen = false
  await expect(syncStatus(page)).toHaveText('Live')
  await addTask(page, 'After the thaw')
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
})

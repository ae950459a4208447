// Issue #11, "never lose an edit": a change the UI showed as made is either
// stored on the server or still visibly pending, or the user is told why it
// was not applied.

import { expect, test, type Page } from '@playwright/test'

import { apiToken, graphql, serverTasks } from './api'
import { addTask, networkSwitch, renameTask, secondDevice, signIn, signUpAndSignIn, syncStatus, taskItem, uniqueEmail } from './helpers'

/** The names of this origin's IndexedDB databases. */
async function databases(page: Page): Promise<string[]> {
  return page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''))
}

async function waitSynced(page: Page): Promise<void> {
  await expect(syncStatus(page)).toHaveText('Live')
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
}

test('a delete made just before a reload or a closed tab stays deleted and reaches the server', async ({ browser, context, page }) => {
  const email = uniqueEmail('undo')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page
  await addTask(page, 'Throw away on reload')
  await addTask(page, 'Throw away on close')
  await expect(taskItem(other, 'Throw away on close')).toBeVisible()

  // Reload inside the undo window: still deleted, still undoable, then sent.
  await page.getByRole('button', { name: 'Delete "Throw away on reload"', exact: true }).click()
  await expect(page.getByRole('button', { name: 'Undo delete of "Throw away on reload"' })).toBeVisible()
  await page.reload()
  await expect(taskItem(page, 'Throw away on close')).toBeVisible()
  await expect(taskItem(page, 'Throw away on reload')).toHaveCount(0)
  await expect(taskItem(other, 'Throw away on reload')).toHaveCount(0, { timeout: 20_000 })

  // Close the tab inside the undo window: the delete waits on the device and is sent on the next visit.
  await page.getByRole('button', { name: 'Delete "Throw away on close"', exact: true }).click()
  await expect(page.getByRole('button', { name: 'Undo delete of "Throw away on close"' })).toBeVisible()
  await page.close()
  const again = await context.newPage()
  await again.goto('/tasks')
  await expect(syncStatus(again)).toHaveText('Live')
  await expect(taskItem(again, 'Throw away on close')).toHaveCount(0)
  await expect(taskItem(other, 'Throw away on close')).toHaveCount(0, { timeout: 20_000 })
  await expect(other.getByRole('button', { name: 'All (0)' })).toBeVisible()

  // Undo still works, and takes the delete back before it is sent.
  await addTask(again, 'Keep me')
  await expect(taskItem(other, 'Keep me')).toBeVisible()
  await again.getByRole('button', { name: 'Delete "Keep me"', exact: true }).click()
  await again.getByRole('button', { name: 'Undo delete of "Keep me"' }).click()
  await expect(taskItem(again, 'Keep me')).toBeVisible()
  await again.waitForTimeout(6_000)
  await expect(taskItem(again, 'Keep me')).toBeVisible()
  await expect(taskItem(other, 'Keep me')).toBeVisible()
  await b.context.close()
})

test('writes made the moment a large list appears after a reload are all kept', async ({ page }) => {
  test.setTimeout(180_000)
  const email = uniqueEmail('early')
  await signUpAndSignIn(page, email)
  const token = await apiToken(page.request, email)
  const titles = Array.from({ length: 1000 }, (_, i) => `Task ${String(i).padStart(4, '0')}`)
  for (let i = 0; i < titles.length; i += 50) {
    await Promise.all(
      titles.slice(i, i + 50).map((title) =>
        graphql(page.request, token, 'mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }', { input: { title } }),
      ),
    )
  }
  await expect(page.getByRole('button', { name: 'All (1000)' })).toBeVisible({ timeout: 30_000 })
  await waitSynced(page)

  // Each start's token refresh is held until the stored list is on screen,
  // then let through; a script in the page clicks a task `delay` ms after
  // the answer arrives: the first ~100 ms after the list appears on a
  // slower network, timed more finely than a click from outside can be.
  let release = () => {}
  let gate = Promise.resolve()
  await page.route('**/auth/refresh', async (route) => {
    const response = await route.fetch()
    await gate
    await route.fulfill({ response })
  })
  await page.addInitScript(() => {
    const original = window.fetch.bind(window)
    window.fetch = async (...args: Parameters<typeof fetch>) => {
      const response = await original(...args)
      const plan = sessionStorage.getItem('e2e-click')
      if (String(args[0]).includes('/auth/refresh') && plan) {
        sessionStorage.removeItem('e2e-click')
        const { label, delay } = JSON.parse(plan) as { label: string; delay: number }
        setTimeout(() => document.querySelector<HTMLInputElement>(`input[aria-label='${label}']`)?.click(), delay)
      }
      return response
    }
  })
  const clicked: string[] = []
  const delays = [0, 2, 5, 10, 15, 20, 30, 40, 50, 75, 100, 150]
  for (const [round, delay] of delays.entries()) {
    const title = titles[round * 7] as string
    gate = new Promise<void>((resolve) => (release = resolve))
    await page.evaluate((plan) => sessionStorage.setItem('e2e-click', plan), JSON.stringify({ label: `Done: "${title}"`, delay }))
    await page.reload()
    await expect(taskItem(page, title)).toBeVisible({ timeout: 30_000 })
    release()
    clicked.push(title)
    await expect(taskItem(page, title)).toBeChecked()
    await waitSynced(page)
    // Lost writes show here: the checkbox falls back once the stored outbox replaces the click.
    await page.waitForTimeout(300)
  }
  const done = (await serverTasks(page.request, token)).filter((t) => t.done).map((t) => t.title)
  expect(done.sort()).toEqual(clicked.sort())
  for (const title of clicked) await expect(taskItem(page, title)).toBeChecked()
})

test('an offline edit of a task deleted on another device is reported, survives a reload, and can be restored', async ({ browser, context, page }) => {
  const net = await networkSwitch(context)
  const email = uniqueEmail('gone')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page
  await addTask(page, 'Water the plants')
  await expect(taskItem(other, 'Water the plants')).toBeVisible()

  await net.offline()
  await expect(syncStatus(page)).toHaveText('Offline')
  await renameTask(page, 'Water the plants', 'Water the plants twice')
  await other.getByRole('button', { name: 'Delete "Water the plants"', exact: true }).click()
  await expect(other.getByRole('button', { name: 'Undo delete of "Water the plants"' })).toHaveCount(0, { timeout: 20_000 })
  await net.online()

  const notice = page.getByRole('alert').filter({ hasText: 'was deleted on another device' })
  await expect(notice).toBeVisible()
  await expect(notice).toContainText('Water the plants twice')
  await expect(taskItem(page, 'Water the plants twice')).toHaveCount(0)
  await page.reload()
  await expect(notice).toBeVisible()
  await notice.getByRole('button', { name: 'Restore as a new task' }).click()
  await expect(notice).toHaveCount(0)
  await expect(taskItem(page, 'Water the plants twice')).toBeVisible()
  await expect(taskItem(other, 'Water the plants twice')).toBeVisible()
  await page.reload()
  await expect(taskItem(page, 'Water the plants twice')).toBeVisible()
  await expect(notice).toHaveCount(0)
  await b.context.close()
})

test('sign-out deletes the local replica, asking first when writes cannot be sent; stores are named by user id', async ({ context, page }) => {
  const net = await networkSwitch(context)
  const email = uniqueEmail('signout')
  await signUpAndSignIn(page, email)
  await addTask(page, 'Sent before sign-out')
  await waitSynced(page)
  const token = await apiToken(page.request, email)
  const me = (await (await page.request.get('/auth/me', { headers: { authorization: `Bearer ${token}` } })).json()) as { userId: string }
  const local = (await databases(page)).filter((name) => name.startsWith('tasksync'))
  expect(local).toEqual([`tasksync-user-${me.userId}`])

  // Nothing pending: sign-out just goes, and takes the replica with it.
  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await page.getByRole('button', { name: 'Sign out', exact: true }).click()
  await expect(page).toHaveURL(/\/sign-in/)
  await expect.poll(async () => (await databases(page)).filter((name) => name.startsWith('tasksync'))).toEqual([])

  // The address in other letters is the same user, with the same store.
  await signIn(page, email.toUpperCase())
  await expect(taskItem(page, 'Sent before sign-out')).toBeVisible()
  expect((await databases(page)).filter((name) => name.startsWith('tasksync'))).toEqual([`tasksync-user-${me.userId}`])

  // A write that cannot be sent: sign-out asks, and staying keeps it.
  await net.offline()
  await expect(syncStatus(page)).toHaveText('Offline')
  await addTask(page, 'Written offline before sign-out')
  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await page.getByRole('button', { name: 'Sign out', exact: true }).click()
  const ask = page.getByRole('alert').filter({ hasText: 'not been sent' })
  await expect(ask).toBeVisible()
  await ask.getByRole('button', { name: 'Stay signed in' }).click()
  await expect(page).toHaveURL(/\/account/)
  await page.getByRole('link', { name: 'Tasks', exact: true }).click()
  await expect(taskItem(page, 'Written offline before sign-out')).toBeVisible()
  await expect(page.getByText('Not yet synced')).toBeVisible()

  // Consenting discards it.
  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await page.getByRole('button', { name: 'Sign out', exact: true }).click()
  await ask.getByRole('button', { name: 'Discard and sign out' }).click()
  await expect(page).toHaveURL(/\/sign-in/)
  await expect.poll(async () => (await databases(page)).filter((name) => name.startsWith('tasksync'))).toEqual([])
  await net.online()
  await signIn(page, email)
  await expect(taskItem(page, 'Sent before sign-out')).toBeVisible()
  await expect(taskItem(page, 'Written offline before sign-out')).toHaveCount(0)
})

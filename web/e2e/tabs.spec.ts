// Issue #11, item 2: the tabs of one browser share one outbox, see each
// other's offline changes, and closing one of them offline loses nothing.

import { expect, test } from '@playwright/test'

import { apiToken, serverTasks } from './api'
import { addTask, signUpAndSignIn, syncStatus, taskItem, uniqueEmail } from './helpers'

test("two offline tabs see each other's changes, and closing one loses nothing", async ({ context, page, request }) => {
  const email = uniqueEmail('tabs-offline')
  await signUpAndSignIn(page, email)
  const tab = await context.newPage()
  await tab.goto('/tasks')
  await expect(syncStatus(tab)).toHaveText('Live')

  await context.setOffline(true)
  await expect(syncStatus(page)).toHaveText('Offline')
  await expect(syncStatus(tab)).toHaveText('Offline')
  await addTask(page, 'From tab one')
  await addTask(tab, 'From tab two')
  await taskItem(tab, 'From tab one').check()
  await expect(taskItem(page, 'From tab two')).toBeVisible()
  await expect(taskItem(page, 'From tab one')).toBeChecked()
  await expect(taskItem(tab, 'From tab one')).toBeChecked()
  await tab.close()

  await context.setOffline(false)
  await expect(syncStatus(page)).toHaveText('Live')
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  const token = await apiToken(request, email)
  expect((await serverTasks(request, token)).map((t) => `${t.title}${t.done ? ' (done)' : ''}`).sort()).toEqual(['From tab one (done)', 'From tab two'])
})

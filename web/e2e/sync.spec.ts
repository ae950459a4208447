import { expect, test } from '@playwright/test'

import { addTask, renameTask, secondDevice, signUpAndSignIn, taskItem, uniqueEmail } from './helpers'

test('changes in one browser appear in another of the same user without reload', async ({ browser, page }) => {
  const email = uniqueEmail('live')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page

  // Add.
  await addTask(page, 'Pack the tent')
  await expect(taskItem(other, 'Pack the tent')).toBeVisible()
  await expect(other.getByRole('button', { name: 'All (1)' })).toBeVisible()

  // Edit.
  await renameTask(page, 'Pack the tent', 'Pack the big tent')
  await expect(taskItem(other, 'Pack the big tent')).toBeVisible()
  await expect(taskItem(other, 'Pack the tent')).toHaveCount(0)

  // Complete (from the other side, to check both directions).
  await other.getByRole('checkbox', { name: 'Done: "Pack the big tent"' }).click()
  await expect(taskItem(other, 'Pack the big tent')).toBeChecked()
  await expect(taskItem(page, 'Pack the big tent')).toBeChecked()
  await expect(page.getByRole('button', { name: 'Done (1)' })).toBeVisible()

  // Delete: hidden at once where it was deleted, gone elsewhere once the undo window (~5 s) has passed.
  await page.getByRole('button', { name: 'Delete "Pack the big tent"', exact: true }).click()
  await expect(page.getByRole('button', { name: 'Undo delete of "Pack the big tent"' })).toBeVisible()
  await expect(taskItem(page, 'Pack the big tent')).toHaveCount(0)
  await expect(taskItem(other, 'Pack the big tent')).toHaveCount(0, { timeout: 20_000 })
  await expect(other.getByRole('button', { name: 'All (0)' })).toBeVisible()
  await expect(page.getByRole('button', { name: 'Undo delete of "Pack the big tent"' })).toHaveCount(0)

  await b.context.close()
})

test('two tabs of one browser stay consistent', async ({ page, context }) => {
  const email = uniqueEmail('tabs')
  await signUpAndSignIn(page, email)
  // A second tab shares the browser's storage and session.
  const tab = await context.newPage()
  await tab.goto('/tasks')
  await expect(tab.getByRole('status', { name: 'Sync status' })).toHaveText(/Live/)
  await addTask(page, 'Written in tab one')
  await expect(taskItem(tab, 'Written in tab one')).toBeVisible()
  await addTask(tab, 'Written in tab two')
  await expect(taskItem(page, 'Written in tab two')).toBeVisible()
  await tab.getByRole('checkbox', { name: 'Done: "Written in tab one"' }).click()
  await expect(taskItem(page, 'Written in tab one')).toBeChecked()
  await tab.close()
})

// Issue #11, item 5: an edit is judged against the task as it was when
// editing began, so a change made elsewhere meanwhile is never silently
// overwritten; a task deleted elsewhere while being edited keeps the typed text.

import { expect, test } from '@playwright/test'

import { addTask, renameTask, secondDevice, signUpAndSignIn, taskItem, uniqueEmail } from './helpers'

test('an edit begun before another device renamed the task shows a conflict instead of overwriting the rename', async ({ browser, page }) => {
  const email = uniqueEmail('edit-race')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page
  await addTask(page, 'Draft the memo')
  await expect(taskItem(other, 'Draft the memo')).toBeVisible()

  await page.getByRole('button', { name: 'Edit "Draft the memo"', exact: true }).click()
  const input = page.getByRole('textbox', { name: 'Title of "Draft the memo"', exact: true })
  await input.fill('Draft the memo for Monday')

  await renameTask(other, 'Draft the memo', 'Draft the memo for Tuesday')
  // Changes arrive in order: once this one is here, so is the rename.
  await addTask(other, 'Marker')
  await expect(taskItem(page, 'Marker')).toBeVisible()

  await input.press('Enter')
  await expect(page.getByRole('alert').filter({ hasText: 'was overtaken by a newer version' })).toBeVisible()
  await expect(taskItem(page, 'Draft the memo for Tuesday')).toBeVisible()
  await expect(taskItem(other, 'Draft the memo for Tuesday')).toBeVisible()
  await expect(taskItem(other, 'Draft the memo for Monday')).toHaveCount(0)

  await b.context.close()
})

test('a task deleted on another device while being edited keeps the typed text, says so, and can be saved as a new task', async ({ browser, page }) => {
  const email = uniqueEmail('edit-gone')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page
  await addTask(page, 'Call the plumber')
  await expect(taskItem(other, 'Call the plumber')).toBeVisible()

  await page.getByRole('button', { name: 'Edit "Call the plumber"', exact: true }).click()
  const input = page.getByRole('textbox', { name: 'Title of "Call the plumber"', exact: true })
  await input.fill('Call the plumber at 9')

  // The delete goes out when its undo window on the other device ends.
  await other.getByRole('button', { name: 'Delete "Call the plumber"', exact: true }).click()
  await expect(page.getByRole('alert').filter({ hasText: 'was deleted on another device while you were editing it' })).toBeVisible({ timeout: 20_000 })
  await expect(input).toHaveValue('Call the plumber at 9')

  await page.getByRole('button', { name: 'Save as a new task' }).click()
  await expect(taskItem(page, 'Call the plumber at 9')).toBeVisible()
  await expect(taskItem(other, 'Call the plumber at 9')).toBeVisible()
  await expect(page.getByText('Not yet synced')).toHaveCount(0)

  await b.context.close()
})

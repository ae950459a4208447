import { expect, test } from '@playwright/test'

import { addTask, networkSwitch, renameTask, screenshotPath, secondDevice, signUpAndSignIn, syncStatus, taskItem, uniqueEmail } from './helpers'

test('a browser that was offline catches up, and its offline edits reach the other', async ({ browser, context, page }) => {
  const net = await networkSwitch(context)
  const email = uniqueEmail('offline')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page

  await addTask(other, 'Before the outage')
  await expect(taskItem(page, 'Before the outage')).toBeVisible()

  await net.offline()
  await expect(syncStatus(page)).toHaveText('Offline')

  // B changes things while A cannot hear.
  await addTask(other, 'Added while A was away')
  await renameTask(other, 'Before the outage', 'Renamed while A was away')
  // A adds a task of its own, kept on the device.
  await addTask(page, 'Written offline')
  await expect(page.getByText('Not yet synced')).toBeVisible()
  await expect(taskItem(page, 'Added while A was away')).toHaveCount(0)
  await expect(taskItem(page, 'Before the outage')).toBeVisible()

  await net.online()
  await expect(syncStatus(page)).toHaveText('Live')
  await expect(taskItem(page, 'Added while A was away')).toBeVisible()
  await expect(taskItem(page, 'Renamed while A was away')).toBeVisible()
  await expect(taskItem(page, 'Before the outage')).toHaveCount(0)
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  await expect(taskItem(other, 'Written offline')).toBeVisible()
  await expect(other.getByRole('button', { name: 'All (3)' })).toBeVisible()
  await expect(page.getByRole('button', { name: 'All (3)' })).toBeVisible()

  await b.context.close()
})

test('an offline edit overtaken by another shows the conflict notice', async ({ browser, context, page }) => {
  const net = await networkSwitch(context)
  const email = uniqueEmail('conflict')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page

  await addTask(page, 'Plan the trip')
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  await expect(taskItem(other, 'Plan the trip')).toBeVisible()

  await net.offline()
  await expect(syncStatus(page)).toHaveText('Offline')
  await renameTask(page, 'Plan the trip', 'Plan the trip to Oslo')
  await expect(page.getByText('Not yet synced')).toBeVisible()
  await renameTask(other, 'Plan the trip', 'Plan the trip to Rome')
  await expect(other.getByText('Not yet synced')).toHaveCount(0)
  await net.online()

  const alert = page.getByRole('alert').filter({ hasText: 'was overtaken by a newer version' })
  await expect(alert).toBeVisible()
  await expect(alert.getByRole('button', { name: 'Re-apply my edit' })).toBeVisible()
  await expect(alert.getByRole('button', { name: 'Keep theirs' })).toBeVisible()
  await expect(syncStatus(page)).toHaveText('Live')
  await expect(taskItem(page, 'Plan the trip to Rome')).toBeVisible()
  await page.screenshot({ path: screenshotPath('conflict.png'), fullPage: true })

  await b.context.close()
})

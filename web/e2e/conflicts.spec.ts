// Issue #11, item 4: only a real clash is a conflict (the same field changed
// differently on two devices); its notice shows both sides' text and stays,
// across reloads, until the user dismisses it.

import { expect, test } from '@playwright/test'

import { addTask, networkSwitch, renameTask, secondDevice, signUpAndSignIn, syncStatus, taskItem, uniqueEmail } from './helpers'

const OVERTAKEN = 'was overtaken by a newer version'

test('changes to different fields of one task, made on two devices at once, are both kept with no conflict', async ({ browser, context, page }) => {
  const net = await networkSwitch(context)
  const email = uniqueEmail('merge')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page
  await addTask(page, 'Book the flights')
  await expect(taskItem(other, 'Book the flights')).toBeVisible()

  await net.offline()
  await expect(syncStatus(page)).toHaveText('Offline')
  await renameTask(page, 'Book the flights', 'Book the flights to Oslo')
  await taskItem(other, 'Book the flights').check()
  await expect(other.getByText('Not yet synced')).toHaveCount(0)
  await net.online()

  await expect(syncStatus(page)).toHaveText('Live')
  await expect(taskItem(page, 'Book the flights to Oslo')).toBeChecked()
  await expect(taskItem(other, 'Book the flights to Oslo')).toBeChecked()
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  await expect(page.getByRole('alert').filter({ hasText: OVERTAKEN })).toHaveCount(0)

  await b.context.close()
})

test('the same change made on two devices at once is not a conflict', async ({ browser, context, page }) => {
  const net = await networkSwitch(context)
  const email = uniqueEmail('same-change')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page
  await addTask(page, 'Water the plants')
  await expect(taskItem(other, 'Water the plants')).toBeVisible()

  await net.offline()
  await expect(syncStatus(page)).toHaveText('Offline')
  await renameTask(page, 'Water the plants', 'Water the plants daily')
  await renameTask(other, 'Water the plants', 'Water the plants daily')
  await expect(other.getByText('Not yet synced')).toHaveCount(0)
  await net.online()

  await expect(syncStatus(page)).toHaveText('Live')
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  await expect(taskItem(page, 'Water the plants daily')).toBeVisible()
  await expect(page.getByRole('alert').filter({ hasText: OVERTAKEN })).toHaveCount(0)

  await b.context.close()
})

test("a conflict notice shows both sides' text and stays, across reloads, until dismissed", async ({ browser, context, page }) => {
  const net = await networkSwitch(context)
  const email = uniqueEmail('clash')
  await signUpAndSignIn(page, email)
  const b = await secondDevice(browser, email)
  const other = b.page
  await addTask(page, 'Plan the trip')
  await expect(taskItem(other, 'Plan the trip')).toBeVisible()

  await net.offline()
  await expect(syncStatus(page)).toHaveText('Offline')
  await renameTask(page, 'Plan the trip', 'Plan the trip to Oslo')
  await renameTask(other, 'Plan the trip', 'Plan the trip to Rome')
  await expect(other.getByText('Not yet synced')).toHaveCount(0)
  await net.online()

  const alert = page.getByRole('alert').filter({ hasText: OVERTAKEN })
  for (const visit of ['after the conflict', 'after a reload']) {
    if (visit === 'after a reload') await page.reload()
    await expect(alert, visit).toContainText('Title, yours:Plan the trip to Oslo')
    await expect(alert, visit).toContainText('Title, theirs:Plan the trip to Rome')
    await expect(taskItem(page, 'Plan the trip to Rome')).toBeVisible()
  }
  await alert.getByRole('button', { name: 'Keep theirs' }).click()
  await expect(alert).toHaveCount(0)
  await page.reload()
  await expect(syncStatus(page)).toHaveText('Live')
  await expect(taskItem(page, 'Plan the trip to Rome')).toBeVisible()
  await expect(alert).toHaveCount(0)
  await expect(taskItem(other, 'Plan the trip to Oslo')).toHaveCount(0)

  await b.context.close()
})

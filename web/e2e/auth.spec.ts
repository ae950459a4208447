import { expect, test } from '@playwright/test'

import { addTask, PASSWORD, screenshotPath, signUpAndOpenConfirm, signUpAndSignIn, syncStatus, uniqueEmail } from './helpers'

test('a new user signs up, reads the code in the dev mailbox, confirms and signs in', async ({ page }) => {
  const email = uniqueEmail('signup')
  await signUpAndSignIn(page, email, {
    onSignIn: async (p) => {
      await p.screenshot({ path: screenshotPath('sign-in.png'), fullPage: true })
    },
  })

  await expect(page).toHaveURL(/\/tasks$/)
  await expect(page.getByRole('heading', { name: 'Tasks', level: 1 })).toBeVisible()
  await expect(syncStatus(page)).toHaveText('Live')
  await expect(page.getByText(`Signed in as ${email}`)).toBeVisible()
  await expect(page.getByRole('button', { name: 'All (0)' })).toHaveAttribute('aria-pressed', 'true')

  for (const title of ['Buy oat milk', 'Water the plants', 'Book the dentist']) await addTask(page, title)
  await page.getByRole('checkbox', { name: 'Done: "Water the plants"' }).click()
  await expect(page.getByRole('checkbox', { name: 'Done: "Water the plants"' })).toBeChecked()
  await expect(page.getByRole('button', { name: 'Done (1)' })).toBeVisible()
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  await page.screenshot({ path: screenshotPath('tasks.png'), fullPage: true })
})

test('an address signed up twice is confirmed with the code and the latest password', async ({ page, request }) => {
  const email = uniqueEmail('twice')
  // Somebody else signed the address up first; the owner signs up after.
  expect((await request.post('/auth/sign-up', { data: { email, password: 'someone-else-chose-this-1' } })).status()).toBe(201)
  const code = await signUpAndOpenConfirm(page, email)
  await page.getByLabel('Code', { exact: true }).fill(code)
  await page.getByRole('button', { name: 'Confirm' }).click()
  await expect(page.getByText('This address was signed up more than once.')).toBeVisible()
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Confirm' }).click()
  await expect(page).toHaveURL(/\/sign-in\?/)
  await expect(page.getByText('Your account is confirmed. Sign in to start.')).toBeVisible()
  const other = await request.post('/auth/sign-in', { data: { email, password: 'someone-else-chose-this-1' } })
  expect(other.status()).toBe(401)
})

import { expect, test } from '@playwright/test'

import { addTask, screenshotPath, signUpAndSignIn, syncStatus, uniqueEmail } from './helpers'

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

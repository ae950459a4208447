import { expect, test } from '@playwright/test'

import { addTask, signUpAndSignIn, taskList, uniqueEmail } from './helpers'

test('a task title with markup renders as text', async ({ page }) => {
  const dialogs: string[] = []
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`)
    void dialog.dismiss()
  })
  const email = uniqueEmail('xss')
  await signUpAndSignIn(page, email)

  const title = '<img src=x onerror=alert(1)>'
  await addTask(page, title)
  const list = taskList(page)
  await expect(list.getByText(title, { exact: true })).toBeVisible()
  await expect(list.locator('img')).toHaveCount(0)
  await expect(page.getByText('Not yet synced')).toHaveCount(0)

  // Once more after a reload, from the server's copy.
  await page.reload()
  await expect(list.getByText(title, { exact: true })).toBeVisible()
  await expect(list.locator('img')).toHaveCount(0)
  await expect(page.locator('main img')).toHaveCount(0)
  expect(dialogs).toEqual([])
})

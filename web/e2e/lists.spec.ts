// Issue #14, shared lists, in two browsers of two users: the owner makes a
// list and shares it; each sees the other's edits live; as a viewer the
// member's view is read-only; removed, the member's page drops the list and
// its tasks at once, and so does their IndexedDB replica (a reload shows
// none of it either).

import { expect, test, type Page } from '@playwright/test'

import { addTask, signUpAndSignIn, syncStatus, taskItem, uniqueEmail } from './helpers'

function listLink(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Lists' }).getByRole('link', { name: new RegExp(`^${name}\\b`) })
}

/** The stored snapshot records of this origin (every user database), as JSON. */
async function storedSnapshots(page: Page): Promise<string> {
  return page.evaluate(async () => {
    const out: unknown[] = []
    for (const { name } of await indexedDB.databases()) {
      if (!name?.startsWith('tasksync-user-')) continue
      const db = await new Promise<IDBDatabase>((ok, fail) => {
        const open = indexedDB.open(name)
        open.onsuccess = () => ok(open.result)
        open.onerror = () => fail(open.error)
      })
      const value = await new Promise((ok, fail) => {
        const get = db.transaction('snapshots', 'readonly').objectStore('snapshots').get('current')
        get.onsuccess = () => ok(get.result)
        get.onerror = () => fail(get.error)
      })
      db.close()
      out.push(value)
    }
    return JSON.stringify(out)
  })
}

test('a shared list: live edits both ways, a viewer reads only, a removed member loses the list at once and for good', async ({ browser, page }) => {
  const ownerEmail = uniqueEmail('list-owner')
  const memberEmail = uniqueEmail('list-member')
  await signUpAndSignIn(page, ownerEmail)
  const memberContext = await browser.newContext()
  const member = await memberContext.newPage()
  await signUpAndSignIn(member, memberEmail)

  // Both start with their personal list only.
  await expect(page.getByRole('heading', { name: 'Personal', level: 2 })).toBeVisible()
  await expect(member.getByRole('navigation', { name: 'Lists' }).getByRole('link')).toHaveCount(1)

  // The owner makes a list; it is shown at once.
  const name = 'Camping trip'
  await page.getByRole('textbox', { name: 'New list name' }).fill(name)
  await page.getByRole('textbox', { name: 'New list name' }).press('Enter')
  await expect(page.getByRole('heading', { name, level: 2 })).toBeVisible()
  await expect(page).toHaveURL(/\/tasks\?list=/)
  await expect(listLink(page, name)).toHaveAttribute('aria-current', 'page')
  await addTask(page, 'Pack the tent')

  // ... and shares it with the member, who may edit.
  await page.getByRole('button', { name: 'Share list' }).click()
  const dialog = page.getByRole('dialog', { name: `Share "${name}"` })
  await expect(dialog).toBeVisible()
  await dialog.getByLabel('E-mail address').fill(memberEmail)
  await expect(dialog.getByLabel('Role', { exact: true })).toHaveValue('EDITOR')
  await dialog.getByRole('button', { name: 'Invite' }).click()
  await expect(dialog.getByRole('list', { name: 'Members' }).getByText(memberEmail)).toBeVisible()
  await expect(dialog.getByRole('combobox', { name: `Role of ${memberEmail}` })).toHaveValue('EDITOR')
  await dialog.getByRole('button', { name: 'Close' }).click()
  await expect(dialog).toBeHidden()
  await expect(page.getByText('Shared with 1 person')).toBeVisible()

  // The member sees the list arrive live, marked with who shared it, and its task.
  await expect(listLink(member, name)).toBeVisible()
  await expect(listLink(member, name)).toContainText(`shared by ${ownerEmail}`)
  await listLink(member, name).click()
  await expect(member.getByRole('heading', { name, level: 2 })).toBeVisible()
  await expect(taskItem(member, 'Pack the tent')).toBeVisible()

  // Edits both ways, live.
  await addTask(member, 'Buy matches')
  await expect(taskItem(page, 'Buy matches')).toBeVisible()
  await taskItem(member, 'Pack the tent').check()
  await expect(taskItem(page, 'Pack the tent')).toBeChecked()
  await taskItem(page, 'Buy matches').check()
  await expect(taskItem(member, 'Buy matches')).toBeChecked()
  await addTask(page, 'Find the torch')
  await expect(taskItem(member, 'Find the torch')).toBeVisible()
  await expect(member.getByText('Not yet synced')).toHaveCount(0)

  // The owner makes the member a viewer: the member's view turns read-only, live.
  await page.getByRole('button', { name: 'Share list' }).click()
  await dialog.getByRole('combobox', { name: `Role of ${memberEmail}` }).selectOption('VIEWER')
  await expect(dialog.getByRole('combobox', { name: `Role of ${memberEmail}` })).toHaveValue('VIEWER')
  await expect(member.getByText('View only', { exact: true })).toBeVisible()
  await expect(member.getByRole('textbox', { name: 'New task title' })).toHaveCount(0)
  await expect(member.getByRole('checkbox')).toHaveCount(0)
  await expect(member.getByRole('button', { name: /^(Edit|Delete) "/ })).toHaveCount(0)
  await expect(member.getByText('Find the torch')).toBeVisible()
  await expect(member.getByRole('button', { name: 'Leave list' })).toBeVisible()

  // The owner removes the member: within a second the member's page has none of the list.
  await dialog.getByRole('button', { name: `Remove ${memberEmail}` }).click()
  await expect(dialog.getByRole('list', { name: 'Members' }).getByText(memberEmail)).toHaveCount(0)
  await expect(listLink(member, name)).toHaveCount(0, { timeout: 1_000 })
  for (const title of ['Pack the tent', 'Buy matches', 'Find the torch']) await expect(member.getByText(title)).toHaveCount(0, { timeout: 1_000 })
  await expect(member.getByRole('heading', { name: 'Personal', level: 2 })).toBeVisible()
  await expect(member.getByText(`The list "${name}" was deleted or is no longer shared with you.`)).toBeVisible()
  await expect(member).toHaveURL(/\/tasks$/)

  // The stored replica has none of it either, before and after a reload.
  const traces = ['Pack the tent', 'Buy matches', 'Find the torch', name]
  await expect.poll(async () => {
    const stored = await storedSnapshots(member)
    return traces.filter((t) => stored.includes(t))
  }).toEqual([])
  await member.reload()
  await expect(syncStatus(member)).toHaveText('Live')
  await expect(member.getByRole('heading', { name: 'Personal', level: 2 })).toBeVisible()
  await expect(listLink(member, name)).toHaveCount(0)
  for (const title of ['Pack the tent', 'Buy matches', 'Find the torch']) await expect(member.getByText(title)).toHaveCount(0)
  const stored = await storedSnapshots(member)
  expect(traces.filter((t) => stored.includes(t))).toEqual([])

  // The owner still has the list and its tasks.
  await expect(taskItem(page, 'Buy matches')).toBeChecked()
  await expect(page.getByText(/^Shared with \d/)).toHaveCount(0)

  await memberContext.close()
})

test('lists: rename, move a task between lists, a refused share says why, a member leaves, the owner deletes', async ({ browser, page }) => {
  const ownerEmail = uniqueEmail('list-admin')
  const memberEmail = uniqueEmail('list-leaver')
  await signUpAndSignIn(page, ownerEmail)
  const memberContext = await browser.newContext()
  const member = await memberContext.newPage()
  await signUpAndSignIn(member, memberEmail)

  await page.getByRole('textbox', { name: 'New list name' }).fill('Groceries')
  await page.getByRole('button', { name: 'Create', exact: true }).click()
  await expect(page.getByRole('heading', { name: 'Groceries', level: 2 })).toBeVisible()
  await addTask(page, 'Oat milk')

  // Rename.
  await page.getByRole('button', { name: 'Rename list' }).click()
  await page.getByRole('textbox', { name: 'Name of "Groceries"' }).fill('Food')
  await page.getByRole('textbox', { name: 'Name of "Groceries"' }).press('Enter')
  await expect(page.getByRole('heading', { name: 'Food', level: 2 })).toBeVisible()
  await expect(listLink(page, 'Food')).toHaveAttribute('aria-current', 'page')

  // Move the task to the personal list while editing it.
  await page.getByRole('button', { name: 'Edit "Oat milk"', exact: true }).click()
  await page.getByRole('combobox', { name: 'List of "Oat milk"' }).selectOption({ label: 'Personal' })
  await page.getByRole('button', { name: 'Save', exact: true }).click()
  await expect(taskItem(page, 'Oat milk')).toHaveCount(0)
  await expect(page.getByText('No tasks yet. Add one above.')).toBeVisible()
  await listLink(page, 'Personal').click()
  await expect(taskItem(page, 'Oat milk')).toBeVisible()
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  await listLink(page, 'Food').click()

  // Sharing with oneself is refused, and the dialog says why.
  await page.getByRole('button', { name: 'Share list' }).click()
  const dialog = page.getByRole('dialog', { name: 'Share "Food"' })
  await dialog.getByLabel('E-mail address').fill(ownerEmail)
  await dialog.getByRole('button', { name: 'Invite' }).click()
  await expect(dialog.getByRole('alert')).toBeVisible()
  await dialog.getByLabel('E-mail address').fill(memberEmail)
  await dialog.getByLabel('Role', { exact: true }).selectOption('VIEWER')
  await dialog.getByRole('button', { name: 'Invite' }).click()
  await expect(dialog.getByRole('combobox', { name: `Role of ${memberEmail}` })).toHaveValue('VIEWER')

  // The member, a viewer, leaves: the list goes from their page, and from the owner's members, live.
  await listLink(member, 'Food').click()
  await expect(member.getByText('View only', { exact: true })).toBeVisible()
  await member.getByRole('button', { name: 'Leave list' }).click()
  await member.getByRole('button', { name: 'Yes, leave list' }).click()
  await expect(listLink(member, 'Food')).toHaveCount(0)
  await expect(member.getByRole('heading', { name: 'Personal', level: 2 })).toBeVisible()
  await expect(member).toHaveURL(/\/tasks$/)
  await expect(dialog.getByRole('list', { name: 'Members' }).getByText(memberEmail)).toHaveCount(0)
  await dialog.getByRole('button', { name: 'Close' }).click()

  // The owner deletes the list; the task moved out of it stays.
  await page.getByRole('button', { name: 'Delete list' }).click()
  await page.getByRole('button', { name: 'Yes, delete list' }).click()
  await expect(listLink(page, 'Food')).toHaveCount(0)
  await expect(page).toHaveURL(/\/tasks$/)
  await expect(taskItem(page, 'Oat milk')).toBeVisible()
  await page.reload()
  await expect(syncStatus(page)).toHaveText('Live')
  await expect(listLink(page, 'Food')).toHaveCount(0)
  await expect(page.getByRole('navigation', { name: 'Lists' }).getByRole('link')).toHaveCount(1)

  await memberContext.close()
})

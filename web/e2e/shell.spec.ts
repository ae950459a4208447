// Issue #11, "Also fix": keyboard focus, hit targets, text direction,
// pasted codes, dev-mode-only hints, no request with an empty token,
// undo for completing, and the filter in the address.

import { expect, test, type Page } from '@playwright/test'

import { addTask, codeFromMailboxPage, PASSWORD, signIn, signUpAndOpenConfirm, signUpAndSignIn, syncStatus, taskItem, uniqueEmail } from './helpers'

const focused = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement
    return el ? `${el.tagName.toLowerCase()}:${el.getAttribute('aria-label') ?? (el as HTMLInputElement).labels?.[0]?.textContent ?? ''}` : ''
  })

test('the skip link is on top of the header when it has focus', async ({ page }) => {
  for (const path of ['/sign-in', '/mailbox']) {
    await page.goto(path)
    const skip = page.getByRole('link', { name: 'Skip to content' })
    await skip.focus()
    const box = await skip.boundingBox()
    expect(box, path).not.toBeNull()
    const hit = await page.evaluate(({ x, y }) => document.elementFromPoint(x, y)?.textContent?.trim(), { x: box!.x + box!.width / 2, y: box!.y + box!.height / 2 })
    expect(hit, `${path}: what is under the middle of the focused skip link`).toBe('Skip to content')
  }
})

test('focus starts in the first field of each form and never drops to <body> after sign-up, sign-in or a delete', async ({ page }) => {
  const email = uniqueEmail('focus')
  for (const [path, field] of [
    ['/sign-in', 'input:E-mail'],
    ['/sign-up', 'input:E-mail'],
    ['/forgot', 'input:E-mail'],
    ['/confirm', 'input:E-mail'],
    [`/confirm?email=${encodeURIComponent(email)}`, 'input:Code'],
    [`/reset?email=${encodeURIComponent(email)}`, 'input:Code'],
  ] as const) {
    await page.goto(path)
    await expect.poll(() => focused(page), path).toBe(field)
  }

  await page.goto('/sign-up')
  await page.getByLabel('E-mail', { exact: true }).fill(email)
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Create account' }).click()
  await expect(page).toHaveURL(/\/confirm\?/)
  await expect.poll(() => focused(page), 'after sign-up').toBe('input:Code')

  const code = await codeFromMailboxPage(page, email)
  await page.goto(`/confirm?email=${encodeURIComponent(email)}`)
  await page.getByLabel('Code', { exact: true }).fill(code)
  await page.getByRole('button', { name: 'Confirm' }).click()
  await expect(page).toHaveURL(/\/sign-in\?/)
  await expect.poll(() => focused(page), 'sign-in with the address filled in').toBe('input:Password')
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page).toHaveURL(/\/tasks$/)
  await expect.poll(() => focused(page), 'after sign-in').toBe('input:New task title')
  await page.getByRole('link', { name: 'Account', exact: true }).click()
  await expect.poll(() => focused(page), '/account').toBe('input:Current password')
  await page.getByRole('link', { name: 'Tasks', exact: true }).click()
  await expect(page).toHaveURL(/\/tasks$/)

  for (const title of ['First', 'Second', 'Third']) await addTask(page, title)
  await page.getByRole('button', { name: 'Delete "Second"' }).click()
  await expect(taskItem(page, 'Second')).toHaveCount(0)
  await expect.poll(() => focused(page), 'after deleting a task in the middle').toBe('input:Done: "Third"')
  await page.getByRole('button', { name: 'Delete "Third"' }).click()
  await expect.poll(() => focused(page), 'after deleting the last task').toBe('input:Done: "First"')
  await page.getByRole('button', { name: 'Undo delete of "Third"' }).click()
  await expect(taskItem(page, 'Third')).toBeVisible()
  await expect.poll(() => focused(page), 'after undoing a delete').toBe('input:Done: "Third"')
})

test.describe('on a phone', () => {
  test.use({ viewport: { width: 390, height: 844 } })

  test('every control is at least 24×24 px', async ({ page }) => {
    await signUpAndSignIn(page, uniqueEmail('targets'))
    await addTask(page, 'Something small')
    const small = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('button, input, textarea, select, a[href]')]
        .filter((el) => el.getClientRects().length > 0 && !el.classList.contains('sr-only'))
        // A link inside a line of text is sized by the text (WCAG 2.5.8's inline exception).
        .filter((el) => !(el.tagName === 'A' && el.parentElement?.matches('p, footer, span')))
        .map((el) => ({ el: el.getAttribute('aria-label') ?? el.textContent?.trim() ?? el.tagName, box: el.getBoundingClientRect() }))
        .filter(({ box }) => box.width < 24 || box.height < 24)
        .map(({ el, box }) => `${el}: ${Math.round(box.width)}×${Math.round(box.height)}`),
    )
    expect(small).toEqual([])
  })
})

test('titles take their direction from their text', async ({ page }) => {
  await signUpAndSignIn(page, uniqueEmail('dir'))
  await addTask(page, 'مرحبا بالعالم')
  await addTask(page, 'Hello world')
  const direction = (title: string) => page.getByText(title, { exact: true }).evaluate((el) => getComputedStyle(el).direction)
  expect(await direction('مرحبا بالعالم')).toBe('rtl')
  expect(await direction('Hello world')).toBe('ltr')
})

test('a code pasted with a space in the middle confirms the account', async ({ page }) => {
  const email = uniqueEmail('paste')
  const code = await signUpAndOpenConfirm(page, email)
  const field = page.getByLabel('Code', { exact: true })
  await field.focus()
  // As a paste: one insertion, which the field's limits apply to.
  await page.keyboard.insertText(`${code.slice(0, 3)} ${code.slice(3)}`)
  await expect(field).toHaveValue(code)
  await page.getByRole('button', { name: 'Confirm' }).click()
  await expect(page.getByText('Your account is confirmed. Sign in to start.')).toBeVisible()
})

test('the dev mailbox is mentioned only when the server runs in development mode', async ({ browser, page }) => {
  const email = uniqueEmail('devmode')
  await page.goto('/confirm')
  await expect(page.getByText('Running in development?')).toBeVisible()
  await signUpAndSignIn(page, email)
  await expect(page.getByRole('contentinfo').getByRole('link', { name: 'Dev mailbox' })).toBeVisible()

  // A production server has no /dev/mailbox route: it answers 404.
  const production = await browser.newContext()
  await production.route('**/dev/mailbox', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"NotFound","message":"not found"}}' }))
  const prod = await production.newPage()
  await signIn(prod, email)
  await expect(prod.getByText(`Signed in as ${email}`)).toBeVisible()
  await expect(prod.getByRole('link', { name: 'Dev mailbox' })).toHaveCount(0)
  await prod.getByRole('link', { name: 'Account' }).click()
  await expect(prod.getByRole('heading', { name: 'Account', level: 1 })).toBeVisible()
  await expect(prod.getByRole('link', { name: 'Dev mailbox' })).toHaveCount(0)
  const signedOut = await production.newPage()
  await signedOut.goto('/sign-in')
  await signedOut.evaluate(() => localStorage.clear())
  await signedOut.goto('/confirm')
  await expect(signedOut.getByRole('heading', { name: 'Confirm your e-mail' })).toBeVisible()
  await expect(signedOut.getByText('Running in development?')).toHaveCount(0)
  await production.close()
})

test('a signed-in start sends no request without a token (no 401)', async ({ page }) => {
  await signUpAndSignIn(page, uniqueEmail('token'))
  await addTask(page, 'There after the reload')
  const refused: string[] = []
  page.on('response', (response) => {
    if (response.status() === 401) refused.push(`${response.request().method()} ${new URL(response.url()).pathname}`)
  })
  for (let i = 0; i < 3; i++) {
    await page.reload()
    await expect(syncStatus(page)).toHaveText('Live')
    await expect(taskItem(page, 'There after the reload')).toBeVisible()
  }
  expect(refused).toEqual([])
})

test('completing a task can be undone, and the undo reaches the server', async ({ browser, page }) => {
  const email = uniqueEmail('undone')
  await signUpAndSignIn(page, email)
  await addTask(page, 'Finish the report')
  await taskItem(page, 'Finish the report').check()
  await expect(taskItem(page, 'Finish the report')).toBeChecked()
  await page.getByRole('button', { name: 'Undo completing "Finish the report"' }).click()
  await expect(taskItem(page, 'Finish the report')).not.toBeChecked()
  await expect(page.getByRole('button', { name: 'Undo completing "Finish the report"' })).toHaveCount(0)
  await expect.poll(() => focused(page)).toBe('input:Done: "Finish the report"')
  await expect(page.getByText('Not yet synced')).toHaveCount(0)

  const other = await browser.newContext()
  const second = await other.newPage()
  await signIn(second, email)
  await expect(taskItem(second, 'Finish the report')).not.toBeChecked()
  await expect(second.getByRole('button', { name: 'Done (0)' })).toBeVisible()
  await other.close()
})

test('the task filter is kept in the address', async ({ page }) => {
  await signUpAndSignIn(page, uniqueEmail('filter'))
  await addTask(page, 'Still to do')
  await addTask(page, 'Already done')
  await taskItem(page, 'Already done').check()

  await page.getByRole('button', { name: /^Done/ }).click()
  await expect(page).toHaveURL(/\/tasks\?filter=done$/)
  await page.reload()
  await expect(page.getByRole('button', { name: /^Done/ })).toHaveAttribute('aria-pressed', 'true')
  await expect(taskItem(page, 'Already done')).toBeVisible()
  await expect(taskItem(page, 'Still to do')).toHaveCount(0)

  await page.getByRole('button', { name: /^Active/ }).click()
  await expect(page).toHaveURL(/\/tasks\?filter=active$/)
  await expect(taskItem(page, 'Still to do')).toBeVisible()
  await page.getByRole('button', { name: /^All/ }).click()
  await expect(page).toHaveURL(/\/tasks$/)
  await expect(taskItem(page, 'Already done')).toBeVisible()
})

import { describe, expect, it } from 'vitest'

import { buttonClass } from './button'

describe('button classes', () => {
  it('lets className win over the variant where they conflict (the undo toast on a dark toast)', () => {
    const classes = buttonClass('ghost', 'sm', 'text-indigo-300 hover:bg-slate-800 dark:text-indigo-700 dark:hover:bg-slate-200').split(' ')
    expect(classes).toContain('text-indigo-300')
    expect(classes).toContain('dark:text-indigo-700')
    expect(classes).not.toContain('text-slate-700')
    expect(classes).not.toContain('dark:text-slate-200')
    expect(classes).not.toContain('hover:bg-slate-100')
    expect(classes).toContain('px-2.5')
  })
})

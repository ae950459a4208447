import { describe, expect, it } from 'vitest'

import { codeDigits } from './code'

describe('codeDigits', () => {
  it.each([
    ['123456', '123456'],
    ['123 456', '123456'],
    [' 123-456\n', '123456'],
    ['12 34 56 78', '123456'],
    ['abc', ''],
  ])('%j becomes %j', (input, expected) => {
    expect(codeDigits(input)).toBe(expected)
  })
})

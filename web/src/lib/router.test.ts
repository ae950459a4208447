import { describe, expect, it } from 'vitest'

import { href, parseLocation } from './router'

describe('router', () => {
  it('normalises paths: trailing and doubled slashes, missing leading slash', () => {
    expect(parseLocation('/tasks/').path).toBe('/tasks')
    expect(parseLocation('//tasks//x').path).toBe('/tasks/x')
    expect(parseLocation('').path).toBe('/')
    expect(parseLocation('/').path).toBe('/')
    expect(parseLocation('sign-in').path).toBe('/sign-in')
  })

  it('decodes query values and keeps the first of repeated names', () => {
    const { query } = parseLocation('/confirm', '?email=a%2Bb%40example.com&x=1&x=2')
    expect(query).toEqual({ email: 'a+b@example.com', x: '1' })
    expect(parseLocation('/confirm', '').query).toEqual({})
    expect(parseLocation('/confirm', 'email=plain@example.com').query.email).toBe('plain@example.com')
  })

  it('builds links that round-trip through parsing and drop empty values', () => {
    const link = href('/reset', { email: 'a+b@example.com', code: '', missing: undefined, none: null })
    expect(link).toBe('/reset?email=a%2Bb%40example.com')
    const [path = '', search = ''] = link.split('?')
    expect(parseLocation(path, search).query).toEqual({ email: 'a+b@example.com' })
    expect(href('/tasks')).toBe('/tasks')
  })
})

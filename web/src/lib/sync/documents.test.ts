// The GraphQL documents the app sends are valid against the committed
// schema.graphql, so a change of the server's schema that breaks the app
// fails here.

import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

import { buildSchema, parse, validate } from 'graphql'
import { describe, expect, it } from 'vitest'

import { CHANGES, CREATE, CREATE_LIST, DELETE, DELETE_LIST, LEAVE_LIST, SHARE_LIST, SYNC, UNSHARE_LIST, UPDATE, UPDATE_LIST } from './transport'

const schema = buildSchema(readFileSync(resolve(__dirname, '../../../../schema.graphql'), 'utf8'))

describe('GraphQL documents', () => {
  it.each([
    ['syncTasks', SYNC],
    ['taskChanges', CHANGES],
    ['createTask', CREATE],
    ['updateTask', UPDATE],
    ['deleteTask', DELETE],
    ['createList', CREATE_LIST],
    ['updateList', UPDATE_LIST],
    ['deleteList', DELETE_LIST],
    ['shareList', SHARE_LIST],
    ['unshareList', UNSHARE_LIST],
    ['leaveList', LEAVE_LIST],
  ])('%s is valid against schema.graphql', (_name, document) => {
    expect(validate(schema, parse(document)).map((e) => e.message)).toEqual([])
  })

  it('the subscription selects `list`, so list changes reach it (the server leaves them out otherwise)', () => {
    expect(CHANGES).toMatch(/\blist \{/)
  })

  it('a document with a field the schema lacks is refused (the check can fail)', () => {
    expect(validate(schema, parse('{ tasks { items { secret } } }'))).not.toHaveLength(0)
  })
})

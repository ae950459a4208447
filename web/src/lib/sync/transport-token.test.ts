import { describe, expect, it } from 'vitest'

import { graphqlTransport } from './transport'

describe('transport without an access token', () => {
  it('sends nothing (no 401 on every start) and fails like the network, so the engine retries', async () => {
    let sent = 0
    const fetchImpl: typeof fetch = async () => {
      sent++
      return new Response('{}')
    }
    const transport = graphqlTransport({ base: 'http://127.0.0.1:9', token: () => '', fetchImpl })
    await expect(transport.syncPage(null, null)).rejects.toMatchObject({ code: 'NO_TOKEN' })
    expect(await transport.write({ kind: 'create', id: 'a', title: 't', description: null, done: false })).toMatchObject({ ok: false, code: 'NETWORK' })
    expect(sent).toBe(0)
  })
})

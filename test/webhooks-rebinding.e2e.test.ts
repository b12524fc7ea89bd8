import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPinnedFetch } from '../src/webhooks/pinned-fetch.node.ts'
import { createSender } from '../src/webhooks/sender.ts'
import { checkWebhookUrl } from '../src/webhooks/url-safety.ts'
import { startReceiver } from './support/webhook-receiver.ts'

// DNS rebinding: a host that resolves to a public address when the URL is checked and to a
// private one when the connection is made. The Node sender checks the addresses inside the
// connection's own lookup, so the second answer is refused; a real receiver on 127.0.0.1 shows
// that nothing reached it. `rebind.invalid` exists in no DNS: only the test's resolver knows it.

let receiver: Awaited<ReturnType<typeof startReceiver>>
beforeAll(async () => {
  receiver = await startReceiver()
})
afterAll(async () => {
  await receiver?.close()
})

const request = (url: string) => ({
  url,
  body: JSON.stringify({ id: 'msg_1', type: 'MessageSent' }),
  headers: {},
})

describe('webhook connections go only to checked addresses', () => {
  it('refuses a host that resolves to a public address for the check and a private one after', async () => {
    const url = receiver.url.replace('127.0.0.1', 'rebind.invalid')
    const answers = [['93.184.215.14'], ['127.0.0.1']]
    let lookups = 0
    const resolve = async () => answers[Math.min(lookups++, answers.length - 1)]!
    // the check at subscription time (and before each attempt) sees the public address
    await expect(checkWebhookUrl(url, { allowPrivate: false, resolve })).resolves.toBeInstanceOf(
      URL,
    )
    const send = createSender({ fetch: createPinnedFetch({ allowPrivate: false, resolve }) })
    const outcome = await send(request(url))
    expect(outcome).toMatchObject({ ok: false, status: null })
    expect(!outcome.ok && outcome.error).toMatch(/127\.0\.0\.1 at connect time/)
    expect(lookups).toBe(2)
    expect(receiver.received).toEqual([])
  })

  it('connects to the address its lookup checked (private allowed by the setting)', async () => {
    const url = receiver.url.replace('127.0.0.1', 'rebind.invalid')
    const send = createSender({
      fetch: createPinnedFetch({ allowPrivate: true, resolve: async () => ['127.0.0.1'] }),
    })
    expect(await send(request(url))).toEqual({ ok: true, status: 204 })
    expect(receiver.received).toHaveLength(1)
  })
})

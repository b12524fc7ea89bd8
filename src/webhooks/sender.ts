/** The outcome of one POST to a receiver. */
export type SendOutcome =
  | { ok: true; status: number }
  | { ok: false; status: number | null; error: string }

export type SendRequest = {
  url: string
  body: string
  headers: Record<string, string>
}

export type SendWebhook = (request: SendRequest) => Promise<SendOutcome>

/** A receiver's response body is read up to this many bytes (then the rest is dropped). */
export const MAX_RESPONSE_BYTES = 64 * 1024
export const SEND_TIMEOUT_MS = 10_000

/**
 * POSTs one webhook: a 2xx within `timeoutMs` (headers and the body read so far) is success.
 * Redirects are not followed (a 3xx is a failure), and at most `maxResponseBytes` of the
 * response body are read, so a receiver cannot make the sender hold a large answer.
 */
export function createSender({
  timeoutMs = SEND_TIMEOUT_MS,
  maxResponseBytes = MAX_RESPONSE_BYTES,
  fetch = globalThis.fetch,
}: {
  timeoutMs?: number
  maxResponseBytes?: number
  /** On Node the entry point passes `createPinnedFetch` (checked addresses at connect time). */
  fetch?: typeof globalThis.fetch
} = {}): SendWebhook {
  return async function sendWebhook({ url, body, headers }) {
    const signal = AbortSignal.timeout(timeoutMs)
    let status: number | null = null
    try {
      const response = await fetch(url, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'eventchat-webhooks',
          ...headers,
        },
        redirect: 'manual',
        signal,
      })
      status = response.status
      const text = await readLimited(response, maxResponseBytes)
      if (status >= 200 && status < 300) return { ok: true, status }
      if (status >= 300 && status < 400) {
        return {
          ok: false,
          status,
          error: 'the receiver answered a redirect, which is not followed',
        }
      }
      return { ok: false, status, error: `the receiver answered ${status}: ${text.slice(0, 200)}` }
    } catch (error) {
      const timedOut = signal.aborted
      return {
        ok: false,
        status,
        error: timedOut
          ? `no answer within ${timeoutMs} ms`
          : `the request failed: ${(error as Error).cause ?? (error as Error).message}`,
      }
    }
  }
}

async function readLimited(response: Response, max: number): Promise<string> {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
    if (size >= max) {
      await reader.cancel().catch(() => {})
      break
    }
  }
  const all = new Uint8Array(Math.min(size, max))
  let at = 0
  for (const chunk of chunks) {
    const part = chunk.subarray(0, all.length - at)
    all.set(part, at)
    at += part.length
    if (at >= all.length) break
  }
  return new TextDecoder().decode(all)
}

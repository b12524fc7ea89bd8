import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'

export type WebhookBody = {
  id: string
  type: string
  position: number
  conversationId: string
  recordedAt: string
  data: Record<string, unknown>
}

export type ReceivedWebhook = {
  body: WebhookBody
  raw: string
  headers: Record<string, string>
  /** The receiver answered 2xx (the sender counts it delivered). */
  accepted: boolean
}

/** What the receiver answers a request with, and after how long. */
export type Answer = { status: number; delayMs?: number }

/**
 * A real HTTP receiver of webhooks on 127.0.0.1: records every request, answers what `respond`
 * says (2xx accepts), and tells when a condition on what it received holds.
 */
export async function startReceiver(
  respond: (body: WebhookBody) => Answer = () => ({ status: 204 }),
) {
  const received: ReceivedWebhook[] = []
  let waiters: { check: () => boolean; resolve: () => void }[] = []
  const state = { respond }
  const server = createServer(async (req, res) => {
    const raw = await readBody(req)
    const body = JSON.parse(raw) as WebhookBody
    const answer = state.respond(body)
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs))
    const accepted = answer.status >= 200 && answer.status < 300
    received.push({ body, raw, headers: flatHeaders(req), accepted })
    res.writeHead(answer.status).end(accepted ? '' : 'try again later')
    waiters = waiters.filter((w) => {
      if (!w.check()) return true
      w.resolve()
      return false
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    accepted: () => received.filter((r) => r.accepted),
    /** Changes how the receiver answers from now on. */
    answerWith(next: (body: WebhookBody) => Answer) {
      state.respond = next
    },
    /** Resolves once `check` holds (checked now and after each request); fails after `timeoutMs`. */
    until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
      if (check()) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w.resolve !== done)
          reject(new Error(`timed out waiting for ${what}; received ${received.length}`))
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          resolve()
        }
        waiters.push({ check, resolve: done })
      })
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>

/** Verifies a request's signature with the `standardwebhooks` package (throws when it fails). */
export function verifySignature(secret: string, request: ReceivedWebhook): void {
  new Webhook(secret).verify(request.raw, request.headers)
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string') headers[k] = v
  }
  return headers
}

import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { startTestServer, type TestServer } from './support/realtime-server.ts'

let server: TestServer
let token: string
beforeAll(async () => {
  server = await startTestServer({ CORS_ORIGINS: 'https://app.example' })
  token = await server.token('alice')
})
afterAll(async () => {
  await server?.close()
})

/**
 * POSTs `size` bytes (Content-Length, or chunked) on a keep-alive agent of one socket, then
 * asks for /healthz on the same agent: the second request must work.
 */
function tooBigThenAnother(size: number, chunked: boolean) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  return new Promise<{ status: number; connection?: string; body: string; next: number }>(
    (resolve, reject) => {
      const req = http.request(
        `${server.url}/api/chat/send`,
        {
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            ...(chunked ? {} : { 'content-length': String(size) }),
          },
        },
        (res) => {
          let body = ''
          res.on('data', (c) => {
            body += c
          })
          res.on('end', () => {
            http
              .get(`${server.url}/healthz`, { agent }, (next) => {
                next.resume()
                next.on('end', () => {
                  agent.destroy()
                  resolve({
                    status: res.statusCode!,
                    connection: res.headers.connection,
                    body,
                    next: next.statusCode!,
                  })
                })
              })
              .on('error', reject)
          })
        },
      )
      req.on('error', reject)
      const chunk = Buffer.alloc(64 * 1024, 'a')
      let sent = 0
      const write = () => {
        while (sent < size) {
          const piece = chunk.subarray(0, Math.min(chunk.length, size - sent))
          sent += piece.length
          if (!req.write(piece)) return void req.once('drain', write)
        }
        req.end()
      }
      write()
    },
  )
}

describe('413', () => {
  for (const [name, size, chunked] of [
    ['a 1.1 MB body with Content-Length', 1_100_000, false],
    ['a 1.1 MB chunked body', 1_100_000, true],
    ['a body just over the limit', 64 * 1024 + 1, false],
  ] as const) {
    it(`${name}: 413 with Connection: close, and the client's next request works`, async () => {
      const res = await tooBigThenAnother(size, chunked)
      expect(res.status).toBe(413)
      expect(res.connection).toBe('close')
      expect(JSON.parse(res.body).error.code).toBe('payload_too_large')
      expect(res.next).toBe(200)
    })
  }
})

/** The HTTP status of a WebSocket upgrade with this Origin (101 when accepted). */
function upgradeStatus(origin: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.wsUrl, {
      headers: { authorization: `Bearer ${token}` },
      ...(origin ? { origin } : {}),
    })
    ws.once('open', () => {
      ws.close()
      resolve(101)
    })
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode!)
      ws.terminate()
    })
    ws.once('error', reject)
  })
}

describe('CORS_ORIGINS guards the WebSocket upgrade', () => {
  it('refuses a browser origin that is not listed (403)', async () => {
    expect(await upgradeStatus('https://evil.example')).toBe(403)
    expect(await upgradeStatus('null')).toBe(403)
  })
  it('accepts a listed origin, the server own origin, and clients that send none', async () => {
    expect(await upgradeStatus('https://app.example')).toBe(101)
    expect(await upgradeStatus(`http://127.0.0.1:${server.port}`)).toBe(101)
    expect(await upgradeStatus(undefined)).toBe(101)
  })
})

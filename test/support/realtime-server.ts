import { type Config, loadConfig } from '../../src/config.ts'
import { directConversationId } from '../../src/domain/conversation-id.ts'
import { issueToken } from '../../src/edge/auth.ts'
import { createLogger, type Logger } from '../../src/logger.ts'
import type { PresencePolicy } from '../../src/presence/presence-policy.ts'
import { type RunningServer, startNodeServer } from '../../src/server.node.ts'
import { createServices } from '../../src/services.ts'
import { createTestDatabase } from './test-database.ts'

export const RT_SECRET = 'realtime-test-secret-0123456789-abcdefghij'

export function realtimeConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    JWT_SECRET: RT_SECRET,
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    RATE_LIMIT_PER_SECOND: '1000',
    RATE_LIMIT_BURST: '1000',
    ...env,
  })
}

export type TestServer = RunningServer & {
  wsUrl: string
  token(userId: string, expiresIn?: string): Promise<string>
  /** How many events the log holds. */
  logSize(): Promise<number>
  /** POST /api/chat/send as `userId`. */
  restSend(
    userId: string,
    body: Record<string, unknown>,
  ): Promise<{ status: number; body: Record<string, unknown> }>
}

/** A real Node server (HTTP + WebSocket) on a port of its own, over a fresh test database. */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { log?: Logger; clock?: () => Date; presencePolicy?: PresencePolicy } = {},
): Promise<TestServer> {
  const db = await createTestDatabase({ max: 6 })
  const config = realtimeConfig(env)
  const log = options.log ?? createLogger(config.LOG_LEVEL)
  const services = await createServices(config, log, {
    db,
    clock: options.clock,
    presencePolicy: options.presencePolicy,
  })
  const server = await startNodeServer(config, { services, log })
  const token = (userId: string, expiresIn = '1h') => issueToken(RT_SECRET, userId, { expiresIn })
  return {
    ...server,
    wsUrl: `ws://127.0.0.1:${server.port}/ws`,
    token,
    async logSize() {
      const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from events`
      return row!.n
    },
    async restSend(userId, body) {
      const res = await fetch(`${server.url}/api/chat/send`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await token(userId)}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      })
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    },
  }
}

export const uniqueUser = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`

export { directConversationId }

import { type Config, loadConfig } from '../../src/config.ts'
import type { ConversationCommand } from '../../src/domain/commands.ts'
import { directConversationId, newId } from '../../src/domain/conversation-id.ts'
import { issueToken } from '../../src/edge/auth.ts'
import type { Database } from '../../src/eventstore/database.ts'
import { createLogger } from '../../src/logger.ts'
import { createServices, type Services } from '../../src/services.ts'
import { createTestDatabase } from './test-database.ts'

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789'

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    RATE_LIMIT_PER_SECOND: '1000',
    RATE_LIMIT_BURST: '1000',
    ...env,
  })
}

/**
 * Services on a fresh test database (PostgreSQL schema or in-memory PGlite), with a clock that
 * advances one millisecond per reading, so that times are distinct and reproducible.
 */
export async function createChatServices(
  env: Record<string, string> = {},
  options: { start?: number } = {},
): Promise<Services & { db: Database }> {
  const db = await createTestDatabase()
  let t = options.start ?? Date.parse('2026-01-01T00:00:00.000Z')
  const config = testConfig(env)
  return createServices(config, createLogger('silent'), {
    db,
    clock: () => new Date(t++),
  })
}

export const tokenFor = (userId: string) => issueToken(TEST_SECRET, userId)

/** Small command helpers over `services.execute` for read-model tests. */
export function commands(services: Services) {
  const run = (actorId: string, command: ConversationCommand, clientCommandId?: string) =>
    services.execute(command, {
      actorId,
      now: services.clock().toISOString(),
      clientCommandId,
    })
  return {
    run,
    async direct(from: string, to: string, content = 'hello') {
      const conversationId = directConversationId(from, to)
      const messageId = newId()
      await run(from, { type: 'SendMessage', conversationId, messageId, content, receiverId: to })
      return { conversationId, messageId }
    },
    async group(creator: string, others: string[], title = 'group') {
      const conversationId = newId()
      await run(creator, {
        type: 'StartConversation',
        conversationId,
        kind: 'group',
        participantIds: others,
        title,
      })
      return conversationId
    },
    async send(from: string, conversationId: string, content: string) {
      const messageId = newId()
      await run(from, { type: 'SendMessage', conversationId, messageId, content })
      return messageId
    },
  }
}

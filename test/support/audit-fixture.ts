import { createCheckpointSigner, parseSeed } from '../../src/audit/checkpoints.ts'
import { TreeKeeper } from '../../src/audit/tree-keeper.ts'
import { loadConfig } from '../../src/config.ts'
import type { ConversationCommand } from '../../src/domain/commands.ts'
import { issueToken } from '../../src/edge/auth.ts'
import { createApp } from '../../src/http/app.ts'
import { auditRoutes } from '../../src/http/routes/audit.ts'
import { auditProofRoutes } from '../../src/http/routes/audit-proofs.ts'
import { chatRoutes } from '../../src/http/routes/chat.ts'
import { createLogger } from '../../src/logger.ts'
import { createServices } from '../../src/services.ts'
import { createTestDatabase } from './test-database.ts'

const SECRET = 'audit-test-secret-0123456789abcdefghijklmnop'
/** The checkpoint signing key of the audit tests (an Ed25519 seed). */
export const AUDIT_TEST_KEY = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'
export const AUDIT_TEST_ORIGIN = 'eventchat.test/audit'

/**
 * A migrated database with the services, the app (chat and audit routes) and helpers to issue
 * tokens, run commands with a clock that moves one second per command, and call routes. The audit
 * tree's keeper is not started: a test runs its turns (`keeper.turn(true)` issues a checkpoint).
 */
export async function createAuditFixture() {
  const db = await createTestDatabase()
  const config = loadConfig({ JWT_SECRET: SECRET, LOG_LEVEL: 'silent' })
  const services = await createServices(config, createLogger('silent'), { db })
  const signer = await createCheckpointSigner(parseSeed(AUDIT_TEST_KEY), AUDIT_TEST_ORIGIN)
  const app = createApp(services, {
    mount: [chatRoutes(services), auditRoutes(services), auditProofRoutes(services, signer)],
  })
  let tick = Date.UTC(2026, 2, 1, 9, 0, 0)
  const keeper = new TreeKeeper({
    sql: db.sql,
    signals: db.signals,
    log: services.log,
    signer,
    checkpointIntervalMs: 60_000,
    clock: () => new Date(tick),
  })
  const now = () => {
    tick += 1000
    return new Date(tick).toISOString()
  }

  const token = (userId: string, role?: string) => issueToken(SECRET, userId, { role })

  async function call(
    path: string,
    options: { token?: string; method?: string; body?: unknown; accept?: string } = {},
  ) {
    const headers: Record<string, string> = {}
    if (options.token) headers.authorization = `Bearer ${options.token}`
    if (options.accept) headers.accept = options.accept
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    return app.request(path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    })
  }

  async function run(actorId: string, command: ConversationCommand) {
    return services.execute(command, { actorId, now: now() })
  }

  async function startGroup(creator: string, others: string[], title = 'Team') {
    const conversationId = crypto.randomUUID()
    await run(creator, {
      type: 'StartConversation',
      conversationId,
      kind: 'group',
      participantIds: others,
      title,
    })
    return conversationId
  }

  async function send(actorId: string, conversationId: string, content: string) {
    const messageId = crypto.randomUUID()
    const outcome = await run(actorId, { type: 'SendMessage', conversationId, messageId, content })
    return { messageId, position: outcome.position! }
  }

  return {
    db,
    sql: db.sql,
    services,
    app,
    signer,
    keeper,
    now,
    token,
    call,
    run,
    startGroup,
    send,
    close: () => db.close(),
  }
}

export type AuditFixture = Awaited<ReturnType<typeof createAuditFixture>>

/** Reads an NDJSON response body into parsed lines. */
export async function ndjsonLines(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text()
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type CommandOptions,
  handleCommand,
  MAX_ATTEMPTS,
  TooMuchContentionError,
} from '../src/application/command-handler.ts'
import { conversationLog } from '../src/conversation-log.ts'
import type { ConversationCommand } from '../src/domain/commands.ts'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import { DomainError } from '../src/domain/errors.ts'
import type { Database } from '../src/eventstore/database.ts'
import { ConcurrencyError } from '../src/eventstore/errors.ts'
import { applyProjections } from '../src/projections/index.ts'
import { createTestDatabase } from './support/test-database.ts'

let db: Database
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(async () => {
  await db?.close()
})

const run = (command: ConversationCommand, actorId: string, extra: Partial<CommandOptions> = {}) =>
  handleCommand({ sql: db.sql, projections: applyProjections }, command, {
    actorId,
    now: new Date().toISOString(),
    ...extra,
  })

const uniqueUser = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`

function send(
  conversationId: string,
  content: string,
  extra: Partial<Extract<ConversationCommand, { type: 'SendMessage' }>> = {},
): ConversationCommand {
  return { type: 'SendMessage', conversationId, messageId: newId(), content, ...extra }
}

describe('command handler', () => {
  it('starts a direct conversation with the first message to a user, then appends to it', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const id = directConversationId(a, b)
    const first = await run(send(id, 'hi', { receiverId: b }), a)
    expect(first.events.map((e) => e.type)).toEqual(['ConversationStarted', 'MessageSent'])
    const second = await run(send(id, 'again', { receiverId: b }), a)
    expect(second.events.map((e) => e.type)).toEqual(['MessageSent'])
    const reply = await run(send(id, 'hello back'), b)
    expect(reply.events[0]!.version).toBe(4)
    expect((await conversationLog.readStream(db.sql, id)).map((e) => e.version)).toEqual([
      1, 2, 3, 4,
    ])
  })

  it('surfaces domain rejections and appends nothing', async () => {
    const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
    const id = directConversationId(a, b)
    await run(send(id, 'hi', { receiverId: b }), a)
    await expect(run(send(id, 'intruder'), c)).rejects.toMatchObject({ code: 'not_participant' })
    await expect(run(send(id, '   '), a)).rejects.toBeInstanceOf(DomainError)
    expect(await conversationLog.readStream(db.sql, id)).toHaveLength(2)
  })

  it('re-decides after losing a race: concurrent sends to one conversation all land', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const id = directConversationId(a, b)
    await run(send(id, 'start', { receiverId: b }), a)
    // Both read version 2 and try to append version 3: one loses and retries.
    const outcomes = await Promise.all([run(send(id, 'from a'), a), run(send(id, 'from b'), b)])
    expect(outcomes.every((o) => o.events.length === 1)).toBe(true)
    const events = await conversationLog.readStream(db.sql, id)
    expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4])
    const contents = events
      .filter((e) => e.type === 'MessageSent')
      .map((e) => (e.data as { content: string }).content)
    expect(contents.sort()).toEqual(['from a', 'from b', 'start'])
  })

  it('keeps every message when 10 writers send 10 messages each into one conversation', async () => {
    const creator = uniqueUser('g')
    const members = Array.from({ length: 9 }, (_, i) => uniqueUser(`m${i}`))
    const id = newId()
    await run(
      {
        type: 'StartConversation',
        conversationId: id,
        kind: 'group',
        participantIds: members,
        title: 'load',
      },
      creator,
    )
    const writers = [creator, ...members]
    await Promise.all(
      writers.map(async (w) => {
        for (let i = 0; i < 10; i++) {
          // Under heavy contention a command may exhaust its retries: the caller retries it.
          for (;;) {
            try {
              await run(send(id, `${w}:${i}`), w)
              break
            } catch (error) {
              if (!(error instanceof TooMuchContentionError)) throw error
            }
          }
        }
      }),
    )
    const events = await conversationLog.readStream(db.sql, id)
    const sent = events
      .filter((e) => e.type === 'MessageSent')
      .map((e) => (e.data as { content: string }).content)
    expect(sent).toHaveLength(100)
    for (const w of writers) {
      // in send order per writer
      expect(sent.filter((c) => c.startsWith(`${w}:`))).toEqual(
        Array.from({ length: 10 }, (_, i) => `${w}:${i}`),
      )
    }
  })

  it('applies 50 concurrent sends with one clientMessageId once, and answers each with the same message', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const id = directConversationId(a, b)
    const clientId = `client-${crypto.randomUUID()}`
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () =>
        run(send(id, 'only once', { receiverId: b, clientMessageId: clientId }), a, {
          clientCommandId: clientId,
        }),
      ),
    )
    const events = await conversationLog.readStream(db.sql, id)
    expect(events.filter((e) => e.type === 'MessageSent')).toHaveLength(1)
    const messageId = (events.find((e) => e.type === 'MessageSent')!.data as { messageId: string })
      .messageId
    expect(new Set(outcomes.map((o) => o.messageId))).toEqual(new Set([messageId]))
    expect(outcomes.filter((o) => !o.duplicate)).toHaveLength(1)
    // The same id from another user is a different command.
    const other = await run(send(id, 'mine', { clientMessageId: clientId }), b, {
      clientCommandId: clientId,
    })
    expect(other.duplicate).toBe(false)
  })

  it('remembers a client command id across a new connection pool (stored, not in memory)', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const id = directConversationId(a, b)
    const first = await run(send(id, 'x', { receiverId: b }), a, { clientCommandId: 'same' })
    const again = await handleCommand({ sql: db.sql }, send(id, 'x', { receiverId: b }), {
      actorId: a,
      now: new Date().toISOString(),
      clientCommandId: 'same',
    })
    expect(again).toMatchObject({
      duplicate: true,
      messageId: first.messageId,
      position: first.position,
    })
  })

  it('gives two users who start a conversation with each other at once one conversation (100 rounds)', async () => {
    for (let round = 0; round < 100; round++) {
      const [a, b] = [uniqueUser('a'), uniqueUser('b')]
      const outcomes = await Promise.all([
        run(send(directConversationId(a, b), `a${round}`, { receiverId: b }), a),
        run(send(directConversationId(b, a), `b${round}`, { receiverId: a }), b),
      ])
      expect(outcomes[0].conversationId).toBe(outcomes[1].conversationId)
      const events = await conversationLog.readStream(db.sql, outcomes[0].conversationId)
      expect(events.map((e) => e.type).sort()).toEqual([
        'ConversationStarted',
        'MessageSent',
        'MessageSent',
      ])
      const [row] = await db.sql<{ count: number }[]>`
        select count(*)::int as count from streams
        where state->'participants' ? ${a} and state->'participants' ? ${b}`
      expect(row?.count).toBe(1)
    }
  })

  it('gives up with a clear error after MAX_ATTEMPTS lost races, having appended nothing', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const id = directConversationId(a, b)
    await run(send(id, 'start', { receiverId: b }), a)
    let attempts = 0
    // Every attempt loses its race (raised inside the append transaction, which rolls back).
    const alwaysLoses = async () => {
      attempts++
      throw new ConcurrencyError(id, 2, 3)
    }
    const error = await handleCommand({ sql: db.sql, projections: alwaysLoses }, send(id, 'x'), {
      actorId: a,
      now: new Date().toISOString(),
    }).catch((e) => e)
    expect(error).toBeInstanceOf(TooMuchContentionError)
    expect(error.message).toMatch(/try again/)
    expect(attempts).toBe(MAX_ATTEMPTS)
    expect(await conversationLog.readStream(db.sql, id)).toHaveLength(2)
  })
})

import { describe, expect, it } from 'vitest'
import { conversationLog } from '../src/conversation-log.ts'
import { newId } from '../src/domain/conversation-id.ts'
import type { ConversationEvent } from '../src/domain/events.ts'
import { takeAppendLock } from '../src/eventstore/append-lock.ts'
import type { Tx } from '../src/eventstore/sql.ts'
import { useRealtimeServer } from './support/realtime-fixture.ts'
import { directConversationId, uniqueUser } from './support/realtime-server.ts'
import { usingPostgres } from './support/test-database.ts'
import type { Frame } from './support/ws-client.ts'

const rt = useRealtimeServer()

const ready = (userId: string) => rt.connect(userId, { ready: true })

const now = () => new Date().toISOString()
const contentOf = (f: Frame) => (f.message as { content: string }).content

/** A direct conversation between `from` and `to`, started through the command handler. */
async function conversation(from: string, to: string) {
  const conversationId = directConversationId(from, to)
  await rt.server.services.execute(
    { type: 'SendMessage', conversationId, messageId: newId(), content: 'start', receiverId: to },
    { actorId: from, now: now() },
  )
  return conversationId
}

function sent(conversationId: string, senderId: string, content: string): ConversationEvent {
  return {
    type: 'MessageSent',
    data: {
      conversationId,
      messageId: newId(),
      senderId,
      content,
      attachments: [],
      clientMessageId: null,
      sentAt: now(),
    },
  }
}

/** Appends straight to the log, bypassing the command handler and its notification. */
const rawAppend = async (tx: Tx, conversationId: string, senderId: string, content: string) => {
  await takeAppendLock(tx)
  return conversationLog.append(tx, {
    streamId: conversationId,
    expectedVersion: 2,
    events: [sent(conversationId, senderId, content)],
    metadata: { actorId: senderId, commandId: newId(), correlationId: newId(), causationId: null },
    recordedAt: now(),
  })
}

describe('the log follower', () => {
  it('delivers an event committed without any notification (the safety-net poll)', async () => {
    const [a, b] = [uniqueUser('a'), uniqueUser('b')]
    const conversationId = await conversation(a, b)
    // the first message is not one this socket gets live
    await rt.caughtUp()
    const cb = await ready(b)
    await rt.server.services.db.sql.begin((tx) => rawAppend(tx, conversationId, a, 'silent'))
    const got = await cb.next('message_notification')
    expect(contentOf(got)).toBe('silent')
  })

  it(
    usingPostgres
      ? 'never skips an event whose transaction commits after a later one'
      : 'delivers events committed one after the other in log order (one connection)',
    async () => {
      const [a, b, c] = [uniqueUser('a'), uniqueUser('b'), uniqueUser('c')]
      const slow = await conversation(a, b)
      const fast = await conversation(c, b)
      const cb = await ready(b)
      const { sql } = rt.server.services.db
      let release!: () => void
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      let appended!: () => void
      const inserted = new Promise<void>((resolve) => {
        appended = resolve
      })
      // the slow transaction takes its place in the log first and stays open
      const slowTx = sql.begin(async (tx) => {
        await rawAppend(tx, slow, a, 'first in the log')
        appended()
        if (usingPostgres) await held
      })
      await inserted
      if (!usingPostgres) await slowTx
      // a later transaction commits (and notifies) while the slow one is still open
      await rt.server.services.execute(
        {
          type: 'SendMessage',
          conversationId: fast,
          messageId: newId(),
          content: 'committed first',
        },
        { actorId: c, now: now() },
      )
      release()
      await slowTx
      const second = await cb.waitFor(
        (f) => f.type === 'message_notification' && contentOf(f) === 'committed first',
      )
      const first = cb.frames.find(
        (f) => f.type === 'message_notification' && contentOf(f) === 'first in the log',
      )
      expect(first).toBeDefined()
      expect(cb.frames.indexOf(first!)).toBeLessThan(cb.frames.indexOf(second))
      const messages = cb.frames.filter((f) => f.type === 'message_notification')
      expect(messages.map(contentOf)).toEqual(['first in the log', 'committed first'])
    },
  )
})

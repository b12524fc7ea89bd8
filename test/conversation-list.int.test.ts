import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { conversationLog } from '../src/conversation-log.ts'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import { type ConversationCursor, listConversations } from '../src/projections/conversations.ts'
import { applyConversations } from '../src/projections/conversations-projection.ts'
import type { Services } from '../src/services.ts'
import { createChatServices } from './support/chat-services.ts'

// The conversation list is read through an index of the hour of each member's last activity
// (migrations/190_members_activity_by_hour.sql), so that a message's updates of its members'
// rows stay on their page (HOT). These tests hold the list to exact last-activity order across
// hours and days, and the updates to HOT.

let services: Services
beforeAll(async () => {
  services = await createChatServices()
})
afterAll(async () => {
  await services?.db.close()
})

const HOUR = 3_600_000
const base = Date.parse('2026-03-01T10:00:00.000Z')

async function sendAt(from: string, to: string, at: number) {
  await services.execute(
    {
      type: 'SendMessage',
      conversationId: directConversationId(from, to),
      messageId: newId(at),
      content: `at ${new Date(at).toISOString()}`,
      receiverId: to,
    },
    { actorId: from, now: new Date(at).toISOString() },
  )
}

async function listAll(userId: string, limit: number) {
  const ids: string[] = []
  let cursor: ConversationCursor | null = null
  for (let pages = 0; pages < 100; pages++) {
    const page: Awaited<ReturnType<typeof listConversations>> = await listConversations(
      services.db.sql,
      userId,
      { limit, cursor },
    )
    ids.push(...page.items.map((c) => c.id))
    if (!page.nextCursor) return ids
    cursor = page.nextCursor
  }
  throw new Error('the list never ended')
}

describe('the conversation list', () => {
  it('comes out in exact last-activity order across hours and days, page by page', async () => {
    // last activities: several within one hour (ties included), either side of an hour's
    // boundary, days apart; an older message sent late does not move a conversation back
    const offsets = [
      0,
      1,
      1,
      HOUR - 1,
      HOUR,
      HOUR + 1,
      2 * HOUR + 5,
      26 * HOUR,
      26 * HOUR,
      -3 * HOUR,
      -50 * HOUR,
      59 * 60_000,
    ]
    const partners = offsets.map((_, i) => `list-p${String(i).padStart(2, '0')}`)
    const expected: { id: string; at: number }[] = []
    for (const [i, offset] of offsets.entries()) {
      const at = base + offset
      await sendAt(partners[i]!, 'list-u', at)
      expected.push({ id: directConversationId(partners[i]!, 'list-u'), at })
    }
    // a message from before the last activity, sent afterwards, changes no order
    await sendAt('list-u', partners[7]!, base - 5 * HOUR)
    expected.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    const order = expected.map((e) => e.id)

    for (const limit of [1, 2, 5, 50]) expect(await listAll('list-u', limit)).toEqual(order)
    const first = await listConversations(services.db.sql, 'list-u', { limit: 50 })
    expect(first.items.map((c) => c.updatedAt)).toEqual(
      expected.map((e) => new Date(e.at).toISOString()),
    )
  })

  it('updates the members of a conversation in place when a message moves their activity', async () => {
    const members = ['hot-a', 'hot-b', 'hot-c', 'hot-d', 'hot-e']
    const conversationId = newId()
    const startAt = new Date(base + 10 * HOUR)
    await services.execute(
      {
        type: 'StartConversation',
        conversationId,
        kind: 'group',
        participantIds: members.slice(1),
        title: 'in place',
      },
      { actorId: members[0]!, now: startAt.toISOString() },
    )
    const messageId = newId()
    await services.execute(
      { type: 'SendMessage', conversationId, messageId, content: 'one' },
      { actorId: 'hot-b', now: new Date(base + 10 * HOUR + 1000).toISOString() },
    )
    const first = (await conversationLog.readStream(services.db.sql, conversationId)).find(
      (e) => e.type === 'MessageSent',
    )!
    // a second message, a second later in the same hour, applied in a transaction that is
    // rolled back: its counters say how the rows were updated (heap-only: no new index entry)
    const sent = {
      ...first,
      version: first.version + 1,
      data: {
        ...first.data,
        messageId: newId(),
        sentAt: new Date(base + 10 * HOUR + 2000).toISOString(),
      },
    }
    const counts = await services.db.sql
      .begin(async (tx) => {
        // counters of this backend (they may include earlier transactions not yet reported)
        const counters = async () => {
          const [row] = await tx<{ updated: string; hot: string }[]>`
            select pg_stat_get_xact_tuples_updated('conversation_members'::regclass) as updated,
              pg_stat_get_xact_tuples_hot_updated('conversation_members'::regclass) as hot`
          return { updated: Number(row!.updated), hot: Number(row!.hot) }
        }
        const before = await counters()
        await applyConversations(tx, sent)
        const after = await counters()
        const counts = { updated: after.updated - before.updated, hot: after.hot - before.hot }
        throw Object.assign(new Error('roll back'), { counts })
      })
      .catch((error: { counts?: { updated: number; hot: number } }) => {
        if (!error.counts) throw error
        return error.counts
      })
    expect(counts).toEqual({ updated: members.length, hot: members.length })
  })
})

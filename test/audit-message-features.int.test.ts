import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ConversationHistory } from '../src/audit/conversation-history.ts'
import { verifyDatabase } from '../src/audit/verify-database.ts'
import { verifyProjections } from '../src/projections/verify.ts'
import { type AuditFixture, createAuditFixture } from './support/audit-fixture.ts'

// Reactions, pins, quote and thread replies, mentions in the audit trail: time travel shows
// them, and erasing a thread reply's content keeps every chain verifiable.

let f: AuditFixture
let auditor: string
beforeAll(async () => {
  f = await createAuditFixture()
  auditor = await f.token('audrey', 'auditor')
})
afterAll(async () => {
  await f?.close()
})

describe('message features in the audit trail', () => {
  it('time travel shows reactions, pins, links and mentions as they stood', async () => {
    const c = await f.startGroup('ann', ['ben', 'cat'], 'Audit')
    const root = await f.send('ann', c, 'root')
    const reply = await f.run('ben', {
      type: 'SendMessage',
      conversationId: c,
      messageId: crypto.randomUUID(),
      content: 'thread reply',
      replyTo: {
        messageId: root.messageId,
        facts: { conversationId: c, version: 2, threadRootId: null },
      },
      threadRoot: {
        messageId: root.messageId,
        facts: { conversationId: c, version: 2, threadRootId: null },
      },
      mentions: ['cat'],
    })
    const target = { conversationId: c, messageId: root.messageId }
    const reacted = await f.run('cat', { type: 'AddReaction', ...target, emoji: '👍' })
    const pinned = await f.run('ben', { type: 'PinMessage', ...target })
    const unreacted = await f.run('cat', { type: 'RemoveReaction', ...target, emoji: '👍' })
    await f.run('ann', { type: 'UnpinMessage', ...target })

    const at = async (position: number) => {
      const res = await f.call(`/api/audit/streams/${c}?at=${position}`, { token: auditor })
      expect(res.status).toBe(200)
      return ((await res.json()) as { state: ConversationHistory }).state
    }
    const rootAt = (h: ConversationHistory) =>
      h.messages.find((m) => m.messageId === root.messageId)!

    const afterPin = await at(pinned.position!)
    expect(rootAt(afterPin).reactions).toEqual([
      expect.objectContaining({ emoji: '👍', userId: 'cat', position: reacted.position }),
    ])
    expect(afterPin.pins).toEqual([
      expect.objectContaining({ messageId: root.messageId, pinnedBy: 'ben' }),
    ])
    const replyAt = afterPin.messages.find((m) => m.messageId === reply.messageId)!
    expect(replyAt).toMatchObject({
      replyToMessageId: root.messageId,
      threadRootId: root.messageId,
      alsoInConversation: false,
      mentions: ['cat'],
    })
    expect(rootAt(await at(unreacted.position!)).reactions).toEqual([])
    expect((await at(unreacted.position!)).pins).toHaveLength(1)
    expect((await at(unreacted.position! + 1)).pins).toEqual([])
    expect((await at(reacted.position! - 1)).pins).toEqual([])
  })

  it('erasing the content of a thread reply keeps every chain verifiable and the read models true', async () => {
    const c = await f.startGroup('dan', ['eve', 'fay'], 'Erase')
    const root = await f.send('dan', c, 'root to erase around')
    const ref = {
      messageId: root.messageId,
      facts: { conversationId: c, version: 2, threadRootId: null },
    }
    await f.run('eve', {
      type: 'SendMessage',
      conversationId: c,
      messageId: crypto.randomUUID(),
      content: 'secret thread reply',
      threadRoot: ref,
      replyTo: ref,
    })
    await f.run('fay', {
      type: 'AddReaction',
      conversationId: c,
      messageId: root.messageId,
      emoji: ':ok:',
    })
    const res = await f.call('/api/audit/users/eve/erase', {
      token: auditor,
      method: 'POST',
      body: { reason: 'request #1' },
    })
    expect(res.status).toBe(200)
    const [row] = await f.sql<{ n: number }[]>`
      select count(*)::int as n from messages
      where conversation_id = ${c} and thread_root_id is not null and content is null and erased`
    expect(row!.n).toBe(1)
    const report = await verifyDatabase(f.sql)
    expect(report.ok).toBe(true)
    expect((await verifyProjections(f.sql)).differences).toEqual([])
  })
})

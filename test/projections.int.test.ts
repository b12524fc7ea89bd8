import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  getConversationView,
  getReadState,
  listConversations,
  unreadByConversation,
  unreadTotal,
} from '../src/projections/conversations.ts'
import { findMembership } from '../src/projections/members.ts'
import { getMessageView, listMessages } from '../src/projections/messages.ts'
import type { Services } from '../src/services.ts'
import { commands, createChatServices } from './support/chat-services.ts'

let services: Services
let cmd: ReturnType<typeof commands>
beforeAll(async () => {
  services = await createChatServices()
  cmd = commands(services)
})
afterAll(async () => {
  await services?.db.close()
})

describe('messages and conversations read models', () => {
  it('shows a direct conversation to both members and to no one else', async () => {
    const { conversationId, messageId } = await cmd.direct('alice', 'bob', 'hi bob')
    const sql = services.db.sql
    const message = await getMessageView(sql, messageId)
    expect(message).toMatchObject({
      id: messageId,
      conversationId,
      senderId: 'alice',
      content: 'hi bob',
      attachments: [],
      editedAt: null,
      deletedAt: null,
      readByOther: false,
    })
    const forBob = await getConversationView(sql, conversationId, 'bob')
    expect(forBob).toMatchObject({
      id: conversationId,
      kind: 'direct',
      title: null,
      participantIds: ['alice', 'bob'],
      unreadCount: 1,
      lastMessage: { id: messageId, senderId: 'alice', preview: 'hi bob', deleted: false },
    })
    expect(forBob!.updatedAt).toBe(message!.sentAt)
    expect((await getConversationView(sql, conversationId, 'alice'))!.unreadCount).toBe(0)
    expect(await getConversationView(sql, conversationId, 'carol')).toBeNull()
    expect(await unreadTotal(sql, 'bob')).toBe(1)
    expect(await unreadByConversation(sql, 'bob')).toEqual([{ conversationId, unreadCount: 1 }])

    await cmd.run('bob', { type: 'MarkRead', conversationId })
    expect(await getReadState(sql, conversationId, 'bob')).toEqual({
      conversationId,
      readUpTo: messageId,
      unreadCount: 0,
    })
    expect((await getMessageView(sql, messageId))!.readByOther).toBe(true)
  })

  it('counts unread messages from others, minus deleted ones, from the read marker on', async () => {
    const sql = services.db.sql
    const g = await cmd.group('u1', ['u2', 'u3'], 'team')
    const m1 = await cmd.send('u1', g, 'one')
    const m2 = await cmd.send('u2', g, 'two')
    const m3 = await cmd.send('u1', g, 'three')
    expect((await getReadState(sql, g, 'u3'))!.unreadCount).toBe(3)
    expect((await getReadState(sql, g, 'u2'))!.unreadCount).toBe(2)
    await cmd.run('u1', { type: 'DeleteMessage', conversationId: g, messageId: m3 })
    expect((await getReadState(sql, g, 'u3'))!.unreadCount).toBe(2)
    await cmd.run('u3', { type: 'MarkRead', conversationId: g, upToMessageId: m1 })
    expect((await getReadState(sql, g, 'u3'))!.unreadCount).toBe(1)
    const view = await getConversationView(sql, g, 'u3')
    expect(view!.lastMessage).toMatchObject({ id: m3, preview: null, deleted: true })
    expect((await getMessageView(sql, m2))!.readByOther).toBeNull()
  })

  it('lists a late joiner only the messages from their join on, and a leaver those before', async () => {
    const sql = services.db.sql
    const g = await cmd.group('a1', ['a2', 'a3'], 'late')
    const before = await cmd.send('a1', g, 'before')
    await cmd.run('a1', { type: 'AddParticipant', conversationId: g, userId: 'a4' })
    const after = await cmd.send('a1', g, 'after')
    const joiner = (await findMembership(sql, g, 'a4'))!
    const page = await listMessages(sql, { conversationId: g, window: joiner, limit: 10 })
    expect(page.items.map((m) => m.id)).toEqual([after])
    await cmd.run('a2', { type: 'LeaveConversation', conversationId: g })
    await cmd.send('a1', g, 'later')
    const leaver = (await findMembership(sql, g, 'a2'))!
    const theirs = await listMessages(sql, { conversationId: g, window: leaver, limit: 10 })
    expect(theirs.items.map((m) => m.id)).toEqual([after, before])
    const view = await getConversationView(sql, g, 'a2')
    expect(view!.lastMessage!.id).toBe(after)
    expect(view!.participantIds).toEqual(['a1', 'a3', 'a4'])
    const listed = await listConversations(sql, 'a2', { limit: 50 })
    expect(listed.items.map((c) => c.id)).not.toContain(g)
  })
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handleCommand } from '../src/application/command-handler.ts'
import { conversationLog, type RecordedEvent } from '../src/conversation-log.ts'
import type { ConversationCommand } from '../src/domain/commands.ts'
import { newId } from '../src/domain/conversation-id.ts'
import type { Database } from '../src/eventstore/database.ts'
import { isAfter, LOG_START } from '../src/eventstore/event-store.ts'
import { applyProjections } from '../src/projections/index.ts'
import { MembershipCache } from '../src/realtime/membership-cache.ts'
import { createTestDatabase } from './support/test-database.ts'

let db: Database
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(async () => {
  await db?.close()
})

const run = (actorId: string, command: ConversationCommand) =>
  handleCommand({ sql: db.sql, projections: applyProjections }, command, {
    actorId,
    now: new Date().toISOString(),
  })
const user = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`

async function eventsOf(conversationId: string): Promise<RecordedEvent[]> {
  const all = await conversationLog.readAll(db.sql, { after: LOG_START, limit: 100_000 })
  return all.filter((e) => e.streamId === conversationId)
}

/** A group where `b` is added after one message and leaves after another. */
async function groupHistory() {
  const [a, b, c] = [user('a'), user('b'), user('c')]
  const id = newId()
  await run(a, {
    type: 'StartConversation',
    conversationId: id,
    kind: 'group',
    participantIds: [c, user('x')],
    title: 'g',
  })
  await run(a, { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'before b' })
  await run(a, { type: 'AddParticipant', conversationId: id, userId: b })
  await run(a, { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'with b' })
  await run(b, { type: 'LeaveConversation', conversationId: id })
  await run(a, { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'after b' })
  return { a, b, c, id }
}

describe('membership cache', () => {
  it('routes each event to the users whose window holds it, the leaver getting its leave', async () => {
    const { a, b, c, id } = await groupHistory()
    const events = await eventsOf(id)
    const fresh = new MembershipCache()
    for (const u of [a, b, c]) fresh.track(u)
    // loading now reflects every event; re-applying them changes nothing (asOf)
    await fresh.load(db.sql)
    const seen = events.map((e) => {
      fresh.apply(e)
      return [e.type, [...fresh.recipients(e)].sort()]
    })
    const ab = [a, c].sort()
    const abc = [a, b, c].sort()
    expect(seen).toEqual([
      ['ConversationStarted', ab],
      ['MessageSent', ab],
      ['ParticipantAdded', abc],
      ['MessageSent', abc],
      ['ParticipantLeft', abc],
      ['MessageSent', ab],
    ])
    expect(fresh.kindOf(id)).toBe('group')
    expect(fresh.isCurrentMember(id, b)).toBeNull()
    expect(fresh.isCurrentMember(id, c)).toBe(true)
    expect([...fresh.currentMembers(id)].sort()).toEqual(ab)
  })

  it('follows membership events read after the load', async () => {
    const [a, b] = [user('a'), user('b')]
    const cache = new MembershipCache()
    cache.track(a)
    cache.track(b)
    await cache.load(db.sql)
    expect(cache.isLoaded(a)).toBe(true)
    const id = newId()
    const outcome = await run(a, {
      type: 'StartConversation',
      conversationId: id,
      kind: 'group',
      participantIds: [b, user('x')],
      title: 'later',
    })
    const started = outcome.events[0]!
    expect([...cache.recipients(started)]).toEqual([])
    cache.apply(started)
    expect([...cache.recipients(started)].sort()).toEqual([a, b].sort())
    const left = (await run(b, { type: 'LeaveConversation', conversationId: id })).events[0]!
    cache.apply(left)
    expect([...cache.recipients(left)].sort()).toEqual([a, b].sort())
    const after = (
      await run(a, { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'x' })
    ).events[0]!
    expect([...cache.recipients(after)]).toEqual([a])
    // forgetting a user drops what only they needed
    cache.untrack(a)
    cache.untrack(b)
    expect(cache.size).toEqual({ users: 0, conversations: 0 })
  })
})

describe('log order', () => {
  it('compares cursors by transaction, then position, never by position alone', () => {
    expect(isAfter({ transactionId: '10', position: 1 }, { transactionId: '9', position: 5 })).toBe(
      true,
    )
    expect(isAfter({ transactionId: '9', position: 5 }, { transactionId: '10', position: 1 })).toBe(
      false,
    )
    expect(isAfter({ transactionId: '7', position: 3 }, { transactionId: '7', position: 2 })).toBe(
      true,
    )
    expect(isAfter({ transactionId: '7', position: 2 }, { transactionId: '7', position: 2 })).toBe(
      false,
    )
  })

  it('takes a removed member out like a leaver: they get their removal, nothing after', async () => {
    const [a, b, c] = [user('a'), user('b'), user('c')]
    const cache = new MembershipCache()
    for (const u of [a, b, c]) cache.track(u)
    await cache.load(db.sql)
    const id = newId()
    const started = await run(a, {
      type: 'StartConversation',
      conversationId: id,
      kind: 'group',
      participantIds: [b, c],
      title: 'removal',
    })
    cache.apply(started.events[0]!)
    const removal = (await run(a, { type: 'RemoveParticipant', conversationId: id, userId: b }))
      .events[0]!
    expect(removal.type).toBe('ParticipantRemoved')
    cache.apply(removal)
    expect([...cache.recipients(removal)].sort()).toEqual([a, b, c].sort())
    expect(cache.isCurrentMember(id, b)).toBeNull()
    const after = (
      await run(a, { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'x' })
    ).events[0]!
    expect([...cache.recipients(after)].sort()).toEqual([a, c].sort())
  })
})

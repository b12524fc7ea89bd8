import { createHash, randomBytes } from 'node:crypto'
import { type ConversationState, evolve } from '../src/domain/conversation.ts'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import type { ConversationEvent } from '../src/domain/events.ts'
import { canonicalJson } from '../src/eventstore/canonical-json.ts'
import { GENESIS_HASH } from '../src/eventstore/event-hash.ts'
import type { Sql } from '../src/eventstore/sql.ts'

/** Same as the store's sha256Hex, with Node's native hash (several times faster) for seeding. */
const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex')

export type SeededConversation = { id: string; members: string[] }

export type ChatSeedOptions = {
  /** Index of the first conversation (seeding can continue where an earlier call stopped). */
  from: number
  conversations: number
  messagesPerConversation: number
  users: number
  /** Every n-th conversation is a group of four; the others are direct. */
  groupEvery?: number
  /** Time of the first event; each event is 10 ms after the previous one of its call. */
  start: Date
  seed?: number
  /** Conversations per batch of multi-row INSERTs. */
  batch?: number
}

export const userName = (n: number) => `user${String(n).padStart(5, '0')}`

// A vocabulary with a long tail: a few very common words, thousands of rarer ones, so that a
// search can hit a hundred thousand messages or a handful.
const COMMON =
  'the a to and meeting lunch report deploy review ship ok thanks tomorrow today'.split(' ')
const NAMES = ['Zoë', 'München', 'Ødegaard', 'Łódź', 'São', 'Paulo', 'Björk', 'Nguyễn']
export const vocabulary = (i: number) => `w${i.toString(36)}`
export const VOCABULARY_SIZE = 5000

/**
 * Writes conversations with their messages in bulk, straight into the store's tables (events
 * with their content digests and hash chains as `append` computes them, streams with the
 * decision state, message facts) and into the read models, exactly as the inline projections
 * would leave them (`verifyProjections` on a seeded database finds no difference).
 */
export async function seedChat(sql: Sql, options: ChatSeedOptions) {
  const groupEvery = options.groupEvery ?? 5
  const batchSize = options.batch ?? 40
  const random = mulberry32(options.seed ?? options.from + 1)
  const t0 = options.start.getTime()
  let tick = 0
  const seeded: SeededConversation[] = []
  const text = () => {
    const n = 5 + Math.floor(random() * 11)
    const words: string[] = []
    for (let k = 0; k < n; k++) {
      const r = random()
      if (r < 0.45) words.push(COMMON[Math.floor(random() * COMMON.length)]!)
      else if (r < 0.48) words.push(NAMES[Math.floor(random() * NAMES.length)]!)
      // Zipf-like: rank ~ 1/u, capped at the vocabulary size
      else
        words.push(vocabulary(Math.min(VOCABULARY_SIZE - 1, Math.floor(1 / (random() + 1e-4)) - 1)))
    }
    return words.join(' ')
  }

  for (let b = 0; b < options.conversations; b += batchSize) {
    const events: Record<string, unknown>[] = []
    const streams: Record<string, unknown>[] = []
    const facts: Record<string, unknown>[] = []
    const conversations: Record<string, unknown>[] = []
    const members: Record<string, unknown>[] = []
    const messages: Record<string, unknown>[] = []
    for (
      let i = options.from + b;
      i < options.from + Math.min(b + batchSize, options.conversations);
      i++
    ) {
      const u = options.users
      const a = i % u
      const step = 1 + 37 * (Math.floor(i / u) % 50)
      const isGroup = i % groupEvery === 0
      const ids = isGroup ? [a, a + step, a + 2 * step, a + 3 * step] : [a, a + step]
      const participants = [...new Set(ids.map((x) => userName(x % u)))]
      const conversationId = isGroup
        ? `group-${String(i).padStart(7, '0')}`
        : directConversationId(participants[0]!, participants[1]!)
      seeded.push({ id: conversationId, members: participants })
      let state: ConversationState | null = null
      let hash = GENESIS_HASH
      let version = 0
      const at = () => new Date(t0 + 10 * tick++).toISOString()
      const startedAt = at()
      const unread = new Map(participants.map((p) => [p, 0]))
      let last = startedAt
      const push = (event: ConversationEvent, actorId: string, recordedAt: string) => {
        version++
        state = evolve(state, event)
        const { data, content } = split(event)
        const salt = content ? randomBytes(16).toString('hex') : null
        const digest = content && salt ? sha256Hex(`${salt}\n${canonicalJson(content)}`) : null
        const commandId = crypto.randomUUID()
        const metadata = { actorId, commandId, correlationId: commandId, causationId: null }
        hash = sha256Hex(
          `${hash}\n${canonicalJson({
            streamId: conversationId,
            version,
            type: event.type,
            schemaVersion: 1,
            data,
            contentDigest: digest,
            metadata,
            recordedAt,
          })}`,
        )
        events.push({
          stream_id: conversationId,
          version,
          type: event.type,
          schema_version: 1,
          data,
          content,
          content_salt: salt,
          content_digest: digest,
          metadata,
          recorded_at: recordedAt,
          hash,
        })
      }
      push(
        {
          type: 'ConversationStarted',
          data: {
            conversationId,
            kind: isGroup ? 'group' : 'direct',
            title: isGroup ? `Group ${i}` : null,
            createdBy: participants[0]!,
            participantIds: participants,
            startedAt,
          },
        },
        participants[0]!,
        startedAt,
      )
      conversations.push({
        conversation_id: conversationId,
        kind: isGroup ? 'group' : 'direct',
        title: isGroup ? `Group ${i}` : null,
        created_by: participants[0]!,
        created_at: startedAt,
      })
      for (let m = 0; m < options.messagesPerConversation; m++) {
        const senderId = participants[Math.floor(random() * participants.length)]!
        const sentAt = at()
        const messageId = newId(Date.parse(sentAt))
        const content = text()
        push(
          {
            type: 'MessageSent',
            data: {
              conversationId,
              messageId,
              senderId,
              content,
              attachments: [],
              clientMessageId: null,
              sentAt,
            },
          },
          senderId,
          sentAt,
        )
        facts.push({
          message_id: messageId,
          conversation_id: conversationId,
          sender_id: senderId,
          version,
          has_attachments: false,
        })
        messages.push({
          conversation_id: conversationId,
          version,
          message_id: messageId,
          sender_id: senderId,
          content,
          // as JSON: postgres.js would send a bare JS array as a PostgreSQL array
          attachments: sql.json([] as never),
          sent_at: sentAt,
        })
        for (const p of participants) if (p !== senderId) unread.set(p, unread.get(p)! + 1)
        last = sentAt
      }
      streams.push({ stream_id: conversationId, version, last_hash: hash, state })
      for (const p of participants) {
        members.push({
          conversation_id: conversationId,
          user_id: p,
          joined_version: 1,
          unread_count: unread.get(p)!,
          last_activity_at: last,
        })
      }
    }
    await sql.begin(async (tx) => {
      for (let k = 0; k < events.length; k += 5000) {
        await tx`insert into events ${tx(events.slice(k, k + 5000) as never, 'stream_id', 'version', 'type', 'schema_version', 'data', 'content', 'content_salt', 'content_digest', 'metadata', 'recorded_at', 'hash')}`
      }
      await tx`insert into streams ${tx(streams as never, 'stream_id', 'version', 'last_hash', 'state')}`
      for (let k = 0; k < facts.length; k += 10000) {
        await tx`insert into message_facts ${tx(facts.slice(k, k + 10000) as never, 'message_id', 'conversation_id', 'sender_id', 'version', 'has_attachments')}`
      }
      await tx`insert into conversations ${tx(conversations as never, 'conversation_id', 'kind', 'title', 'created_by', 'created_at')}`
      await tx`insert into conversation_members ${tx(members as never, 'conversation_id', 'user_id', 'joined_version', 'unread_count', 'last_activity_at')}`
      for (let k = 0; k < messages.length; k += 6000) {
        await tx`insert into messages ${tx(messages.slice(k, k + 6000) as never, 'conversation_id', 'version', 'message_id', 'sender_id', 'content', 'attachments', 'sent_at')}`
      }
    })
  }
  return seeded
}

/** The erasable part kept apart, as the event store does (see `append`). */
function split(event: ConversationEvent) {
  if (event.type === 'MessageSent') {
    const { content, attachments, ...data } = event.data
    return { data, content: { content, attachments } }
  }
  return { data: event.data, content: null }
}

export function mulberry32(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

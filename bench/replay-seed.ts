import { randomBytes } from 'node:crypto'
import { chainHash, saltedDigest } from '../src/audit/chain-hash.ts'
import { nodeHashHex } from '../src/audit/node-sha256.ts'
import { type ConversationState, evolve } from '../src/domain/conversation.ts'
import type { ConversationEvent } from '../src/domain/events.ts'
import { GENESIS_HASH } from '../src/eventstore/event-hash.ts'
import type { Sql } from '../src/eventstore/sql.ts'

export type SeedOptions = {
  events: number
  /** Conversations the events are spread over (round robin, as a busy log interleaves them). */
  conversations?: number
  users?: number
  /** Rows per INSERT statement (each statement is its own transaction). */
  batchSize?: number
  start?: Date
  seed?: number
}

export type SeedResult = {
  events: number
  streams: number
  /** Per type, how many events were written. */
  types: Record<string, number>
}

type Sim = {
  id: string
  kind: 'group' | 'direct'
  version: number
  hash: string
  state: ConversationState | null
  current: string[]
  recent: { messageId: string; senderId: string; version: number; deleted: boolean }[]
}

const columns = [
  'stream_id',
  'version',
  'type',
  'schema_version',
  'data',
  'content',
  'content_salt',
  'content_digest',
  'metadata',
  'recorded_at',
  'hash',
] as const

/**
 * Writes a synthetic but valid log straight into `events` and `streams`: every event matches its
 * schema and follows the domain's rules (only participants write, only senders edit or delete,
 * markers move forward), with content digests and hash chains computed exactly as `append` does.
 * Bulk inserts instead of commands, so that a million events take seconds, not an hour.
 */
export async function seedLog(sql: Sql, options: SeedOptions): Promise<SeedResult> {
  const conversations = options.conversations ?? Math.max(1, Math.round(options.events / 100))
  const users = options.users ?? Math.max(10, Math.round(conversations / 2))
  const batchSize = options.batchSize ?? 2000
  const t0 = (options.start ?? new Date('2026-01-01T00:00:00.000Z')).getTime()
  const random = mulberry32(options.seed ?? 1)
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!
  const user = (n: number) => `user-${n}`
  const sims: Sim[] = Array.from({ length: conversations }, (_, i) => ({
    id: `conv-${String(i).padStart(7, '0')}`,
    kind: i % 5 === 0 ? 'direct' : 'group',
    version: 0,
    hash: GENESIS_HASH,
    state: null,
    current: [],
    recent: [],
  }))
  const types: Record<string, number> = {}
  let batch: Record<(typeof columns)[number], unknown>[] = []
  const flush = async () => {
    if (!batch.length) return
    await sql`insert into events ${sql(batch as never, ...columns)}`
    batch = []
  }

  for (let i = 0; i < options.events; i++) {
    const sim = sims[i % conversations]!
    const now = new Date(t0 + i * 7).toISOString()
    const event = nextEvent(sim, now, i)
    sim.version++
    sim.state = evolve(sim.state, event)
    types[event.type] = (types[event.type] ?? 0) + 1
    const { data, content } = split(event)
    const salt = content ? randomBytes(16).toString('hex') : null
    const digest = content && salt ? saltedDigest(salt, content, nodeHashHex) : null
    const metadata = {
      actorId: actorOf(event),
      commandId: `cmd-${i}`,
      correlationId: `cmd-${i}`,
      causationId: null,
    }
    const fields = {
      streamId: sim.id,
      version: sim.version,
      type: event.type,
      schemaVersion: 1,
      data,
      contentDigest: digest,
      metadata,
      recordedAt: now,
    }
    sim.hash = chainHash(sim.hash, fields, nodeHashHex)
    batch.push({
      stream_id: sim.id,
      version: sim.version,
      type: event.type,
      schema_version: 1,
      data,
      content,
      content_salt: salt,
      content_digest: digest,
      metadata,
      recorded_at: now,
      hash: sim.hash,
    })
    if (batch.length >= batchSize) await flush()
  }
  await flush()

  const heads = sims.filter((s) => s.version > 0)
  for (let i = 0; i < heads.length; i += 1000) {
    const rows = heads.slice(i, i + 1000).map((s) => ({
      stream_id: s.id,
      version: s.version,
      last_hash: s.hash,
      state: s.state,
    }))
    await sql`insert into streams ${sql(rows as never, 'stream_id', 'version', 'last_hash', 'state')}`
  }
  return { events: options.events, streams: heads.length, types }

  function nextEvent(sim: Sim, now: string, i: number): ConversationEvent {
    if (sim.version === 0) {
      const first = Math.floor(random() * users)
      const size = sim.kind === 'direct' ? 2 : 3 + Math.floor(random() * 4)
      const participantIds = Array.from({ length: size }, (_, k) => user((first + k * 7) % users))
      sim.current = [...new Set(participantIds)]
      if (sim.current.length < 2) sim.current.push(user((first + 1) % users))
      // direct conversation ids are derived from the pair in the product; any id passes the
      // event schema, and the read models key on it without interpreting it
      return {
        type: 'ConversationStarted',
        data: {
          conversationId: sim.id,
          kind: sim.current.length === 2 ? sim.kind : 'group',
          title: sim.kind === 'group' ? `Group ${sim.id}` : null,
          createdBy: sim.current[0]!,
          participantIds: [...sim.current],
          startedAt: now,
        },
      }
    }
    const r = random()
    const live = sim.recent.filter((m) => !m.deleted && sim.current.includes(m.senderId))
    if (r < 0.08 && live.length) {
      const m = pick(live)
      return {
        type: 'MessageEdited',
        data: {
          conversationId: sim.id,
          messageId: m.messageId,
          editorId: m.senderId,
          content: `edited ${i}: ${text(random)}`,
          editedAt: now,
        },
      }
    }
    if (r < 0.1 && live.length) {
      const m = pick(live)
      m.deleted = true
      return {
        type: 'MessageDeleted',
        data: {
          conversationId: sim.id,
          messageId: m.messageId,
          deletedBy: m.senderId,
          deletedAt: now,
        },
      }
    }
    const last = sim.state?.lastMessage
    if (r < 0.25 && last) {
      const reader = pick(sim.current)
      const marker = sim.state?.readMarkers[reader]
      const joined = sim.state?.participants[reader]?.joinedVersion ?? 0
      if ((!marker || marker.version < last.version) && last.version >= joined) {
        return {
          type: 'MessagesRead',
          data: {
            conversationId: sim.id,
            userId: reader,
            upToMessageId: last.messageId,
            upToVersion: last.version,
            readAt: now,
          },
        }
      }
    }
    if (r > 0.985 && sim.state?.kind === 'group') {
      if (r > 0.993 && sim.current.length > 3) {
        const leaver = pick(sim.current)
        sim.current = sim.current.filter((u) => u !== leaver)
        return {
          type: 'ParticipantLeft',
          data: { conversationId: sim.id, userId: leaver, leftAt: now },
        }
      }
      const newcomer = user(Math.floor(random() * users))
      if (!sim.current.includes(newcomer)) {
        const addedBy = pick(sim.current)
        sim.current.push(newcomer)
        return {
          type: 'ParticipantAdded',
          data: { conversationId: sim.id, userId: newcomer, addedBy, addedAt: now },
        }
      }
    }
    const senderId = pick(sim.current)
    const messageId = `msg-${i}`
    sim.recent.push({ messageId, senderId, version: sim.version + 1, deleted: false })
    if (sim.recent.length > 20) sim.recent.shift()
    return {
      type: 'MessageSent',
      data: {
        conversationId: sim.id,
        messageId,
        senderId,
        content: text(random),
        attachments:
          random() < 0.1
            ? [
                {
                  url: `https://files.example.com/${i}.png`,
                  name: `photo-${i}.png`,
                  mimeType: 'image/png',
                  size: 1000 + i,
                },
              ]
            : [],
        clientMessageId: random() < 0.5 ? `client-${i}` : null,
        sentAt: now,
      },
    }
  }
}

function actorOf(event: ConversationEvent): string {
  switch (event.type) {
    case 'ConversationStarted':
      return event.data.createdBy
    case 'MessageSent':
      return event.data.senderId
    case 'MessageEdited':
      return event.data.editorId
    case 'MessageDeleted':
      return event.data.deletedBy
    case 'MessagesRead':
      return event.data.userId
    case 'ParticipantAdded':
      return event.data.addedBy
    case 'ParticipantLeft':
      return event.data.userId
    case 'UserContentErased':
      return event.data.erasedBy
    case 'ReactionAdded':
    case 'ReactionRemoved':
      return event.data.userId
    case 'MessagePinned':
      return event.data.pinnedBy
    case 'MessageUnpinned':
      return event.data.unpinnedBy
    case 'ConversationRenamed':
      return event.data.renamedBy
    case 'ParticipantRemoved':
      return event.data.removedBy
    case 'ParticipantRoleChanged':
      return event.data.changedBy
    case 'MessagesDelivered':
      return event.data.userId
  }
}

/** The erasable part kept apart, as the event store does (see `append`). */
function split(event: ConversationEvent) {
  if (event.type === 'MessageSent') {
    const { content, attachments, ...data } = event.data
    return { data, content: { content, attachments } }
  }
  if (event.type === 'MessageEdited') {
    const { content, ...data } = event.data
    return { data, content: { content } }
  }
  return { data: event.data, content: null }
}

const words =
  'the a meeting lunch report deploy review ship ok thanks tomorrow today café ✓ 👍 yes no maybe later'.split(
    ' ',
  )

function text(random: () => number) {
  const n = 4 + Math.floor(random() * 16)
  let out = ''
  for (let k = 0; k < n; k++) out += `${k ? ' ' : ''}${words[Math.floor(random() * words.length)]}`
  return out
}

function mulberry32(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { conversationLog } from '../src/conversation-log.ts'
import type { ConversationEvent } from '../src/domain/events.ts'
import type { Database } from '../src/eventstore/database.ts'
import { ConcurrencyError, EventSchemaError } from '../src/eventstore/errors.ts'
import {
  cursorAt,
  cursorOf,
  headCursor,
  LOG_START,
  type LogCursor,
} from '../src/eventstore/event-store.ts'
import { appendTx } from './support/append-tx.ts'
import { createTestDatabase, usingPostgres } from './support/test-database.ts'

let db: Database
beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(async () => {
  await db?.close()
})

const meta = { actorId: 'u1', commandId: 'c1', correlationId: 'c1', causationId: null }
const now = '2026-11-26T12:00:00.000Z'

function sent(conversationId: string, messageId: string, content = 'hello'): ConversationEvent {
  return {
    type: 'MessageSent',
    data: {
      conversationId,
      messageId,
      senderId: 'u1',
      content,
      attachments: [],
      clientMessageId: null,
      sentAt: now,
    },
  }
}

describe('append and read', () => {
  it('appends with an expected version and reads the stream back, validated', async () => {
    const s = `s-${crypto.randomUUID()}`
    const first = await appendTx(db.sql, (tx) =>
      conversationLog.append(tx, {
        streamId: s,
        expectedVersion: 0,
        events: [sent(s, 'm1'), sent(s, 'm2')],
        metadata: meta,
        recordedAt: now,
      }),
    )
    expect(first.map((e) => e.version)).toEqual([1, 2])
    await appendTx(db.sql, (tx) =>
      conversationLog.append(tx, {
        streamId: s,
        expectedVersion: 2,
        events: [sent(s, 'm3', 'third')],
        metadata: meta,
        recordedAt: now,
      }),
    )
    const events = await conversationLog.readStream(db.sql, s)
    expect(events.map((e) => [e.version, e.type, (e.data as { content: string }).content])).toEqual(
      [
        [1, 'MessageSent', 'hello'],
        [2, 'MessageSent', 'hello'],
        [3, 'MessageSent', 'third'],
      ],
    )
    expect(events[0]!.metadata).toEqual(meta)
    expect(events[0]!.recordedAt).toBe(now)
    const upTo = await conversationLog.readStream(db.sql, s, { upToPosition: events[1]!.position })
    expect(upTo).toHaveLength(2)
  })

  it('rejects a stale expected version with a ConcurrencyError', async () => {
    const s = `s-${crypto.randomUUID()}`
    await appendTx(db.sql, (tx) =>
      conversationLog.append(tx, {
        streamId: s,
        expectedVersion: 0,
        events: [sent(s, 'a')],
        metadata: meta,
        recordedAt: now,
      }),
    )
    await expect(
      appendTx(db.sql, (tx) =>
        conversationLog.append(tx, {
          streamId: s,
          expectedVersion: 0,
          events: [sent(s, 'b')],
          metadata: meta,
          recordedAt: now,
        }),
      ),
    ).rejects.toBeInstanceOf(ConcurrencyError)
    await expect(
      appendTx(db.sql, (tx) =>
        conversationLog.append(tx, {
          streamId: s,
          expectedVersion: 5,
          events: [sent(s, 'b')],
          metadata: meta,
          recordedAt: now,
        }),
      ),
    ).rejects.toThrow(/expected 5/)
  })

  it('lets exactly one of two concurrent appends with the same expected version win', async () => {
    const s = `s-${crypto.randomUUID()}`
    await appendTx(db.sql, (tx) =>
      conversationLog.append(tx, {
        streamId: s,
        expectedVersion: 0,
        events: [sent(s, 'a')],
        metadata: meta,
        recordedAt: now,
      }),
    )
    const results = await Promise.allSettled(
      ['x', 'y'].map((id) =>
        appendTx(db.sql, (tx) =>
          conversationLog.append(tx, {
            streamId: s,
            expectedVersion: 1,
            events: [sent(s, id)],
            metadata: meta,
            recordedAt: now,
          }),
        ),
      ),
    )
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
    expect(rejected).toHaveLength(1)
    expect(rejected[0]!.reason).toBeInstanceOf(ConcurrencyError)
    expect(await conversationLog.readStream(db.sql, s)).toHaveLength(2)
  })

  it('reads the whole log after a cursor in batches, and resolves positions to cursors', async () => {
    const s = `s-${crypto.randomUUID()}`
    const head = await headCursor(db.sql)
    for (let i = 0; i < 7; i++) {
      await appendTx(db.sql, (tx) =>
        conversationLog.append(tx, {
          streamId: s,
          expectedVersion: i,
          events: [sent(s, `b${i}`)],
          metadata: meta,
          recordedAt: now,
        }),
      )
    }
    const seen: number[] = []
    let cursor: LogCursor = head
    // An empty batch is not "caught up": another test file's open write transaction can hold
    // the snapshot horizon back for a moment, so read until all 7 arrived (or give up).
    const deadline = Date.now() + 15_000
    while (seen.length < 7 && Date.now() < deadline) {
      const batch = await conversationLog.readAll(db.sql, { after: cursor, limit: 3 })
      if (batch.length === 0) {
        await new Promise((r) => setTimeout(r, 10))
        continue
      }
      seen.push(...batch.filter((e) => e.streamId === s).map((e) => e.version))
      cursor = cursorOf(batch.at(-1)!)
    }
    expect(
      await conversationLog
        .readAll(db.sql, { after: cursor, limit: 100 })
        .then((b) => b.filter((e) => e.streamId === s)),
    ).toEqual([])
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7])
    const events = await conversationLog.readStream(db.sql, s)
    expect(await cursorAt(db.sql, events[2]!.position)).toEqual(cursorOf(events[2]!))
    expect(await cursorAt(db.sql, 0)).toEqual(LOG_START)
    expect(await cursorAt(db.sql, 10 ** 12)).toBeNull()
  })

  it('fails loudly, naming the event, when a stored row no longer matches its schema', async () => {
    const s = `s-${crypto.randomUUID()}`
    const [e] = await appendTx(db.sql, (tx) =>
      conversationLog.append(tx, {
        streamId: s,
        expectedVersion: 0,
        events: [sent(s, 'bad')],
        metadata: meta,
        recordedAt: now,
      }),
    )
    await db.sql`update events set data = data - 'senderId' where position = ${e!.position}`
    const error = await conversationLog.readStream(db.sql, s).catch((err) => err)
    expect(error).toBeInstanceOf(EventSchemaError)
    expect(error.message).toContain(`position ${e!.position}`)
    expect(error.message).toContain('MessageSent')
    expect(error.message).toContain(s)
    expect(error.message).toContain('senderId')
    await db.sql`delete from events where stream_id = ${s}`
  })

  it('refuses to write an event that does not match its schema', async () => {
    const s = `s-${crypto.randomUUID()}`
    const bad = { type: 'MessageSent', data: { conversationId: s } } as unknown as ConversationEvent
    await expect(
      appendTx(db.sql, (tx) =>
        conversationLog.append(tx, {
          streamId: s,
          expectedVersion: 0,
          events: [bad],
          metadata: meta,
          recordedAt: now,
        }),
      ),
    ).rejects.toBeInstanceOf(EventSchemaError)
  })
})

describe('log order readers can trust', () => {
  it('never skips an event whose transaction took a lower position but committed later', async () => {
    const sA = `race-a-${crypto.randomUUID()}`
    const sB = `race-b-${crypto.randomUUID()}`
    let cursor = await headCursor(db.sql)
    const seen: number[] = []
    const poll = async () => {
      for (;;) {
        const batch = await conversationLog.readAll(db.sql, { after: cursor, limit: 100 })
        if (batch.length === 0) return
        for (const e of batch) if (e.streamId === sA || e.streamId === sB) seen.push(e.position)
        cursor = cursorOf(batch.at(-1)!)
      }
    }
    // A takes the lower position and stays open; B takes the higher one and commits.
    let releaseA!: () => void
    const aHolding = new Promise<void>((r) => {
      releaseA = r
    })
    let aPosition = 0
    let aInserted!: () => void
    const aInsertedP = new Promise<void>((r) => {
      aInserted = r
    })
    const a = appendTx(db.sql, async (tx) => {
      const [e] = await conversationLog.append(tx, {
        streamId: sA,
        expectedVersion: 0,
        events: [sent(sA, 'low')],
        metadata: meta,
        recordedAt: now,
      })
      aPosition = e!.position
      aInserted()
      await aHolding
    })
    await aInsertedP
    const bCommitted = appendTx(db.sql, (tx) =>
      conversationLog.append(tx, {
        streamId: sB,
        expectedVersion: 0,
        events: [sent(sB, 'high')],
        metadata: meta,
        recordedAt: now,
      }),
    )
    if (usingPostgres) {
      const [b] = await bCommitted
      expect(b!.position).toBeGreaterThan(aPosition)
      // B is committed, A is not: a reader trusting positions alone would move past A here.
      await poll()
      expect(seen).toEqual([])
    }
    // (PGlite has one connection: B and the reader queue behind A, so the race cannot open.)
    releaseA()
    await a
    const [b] = await bCommitted
    // A write transaction of another test file can hold the snapshot horizon back for a
    // moment: keep polling until both arrive (or give up), then check order and uniqueness.
    const deadline = Date.now() + 15_000
    while (seen.length < 2 && Date.now() < deadline) {
      await poll()
      if (seen.length < 2) await new Promise((r) => setTimeout(r, 20))
    }
    expect(seen).toEqual([aPosition, b!.position])
  })

  it('delivers every event exactly once to a reader polling during many concurrent appends', async () => {
    const streams = Array.from({ length: 8 }, (_, i) => `conc-${i}-${crypto.randomUUID()}`)
    let cursor = await headCursor(db.sql)
    const seen = new Map<string, number[]>()
    let done = false
    let total = 0
    let deadline = Number.POSITIVE_INFINITY
    const reader = (async () => {
      // Until every event was seen; after the writers finish, give stragglers 15 s (another
      // test file's open write transaction may hold the snapshot horizon back meanwhile).
      while (total < streams.length * 25 && Date.now() < deadline) {
        if (done && deadline === Number.POSITIVE_INFINITY) deadline = Date.now() + 15_000
        const batch = await conversationLog.readAll(db.sql, { after: cursor, limit: 50 })
        for (const e of batch) {
          if (!streams.includes(e.streamId)) continue
          seen.set(e.streamId, [...(seen.get(e.streamId) ?? []), e.version])
          total++
        }
        if (batch.length) cursor = cursorOf(batch.at(-1)!)
        else await new Promise((r) => setTimeout(r, 5))
      }
    })()
    await Promise.all(
      streams.map(async (s) => {
        for (let v = 0; v < 25; v++) {
          await appendTx(db.sql, (tx) =>
            conversationLog.append(tx, {
              streamId: s,
              expectedVersion: v,
              events: [sent(s, `${s}-${v}`)],
              metadata: meta,
              recordedAt: now,
            }),
          )
        }
      }),
    )
    done = true
    await reader
    for (const s of streams)
      expect(seen.get(s)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1))
  })
})

describe('recorded time', () => {
  it('records the time as it reads back, so hashes computed at append match what is stored', async () => {
    const s = `t-${crypto.randomUUID()}`
    const [e] = await appendTx(db.sql, (tx) =>
      conversationLog.append(tx, {
        streamId: s,
        expectedVersion: 0,
        events: [sent(s, 'tz')],
        metadata: meta,
        recordedAt: '2026-11-26T13:00:00+01:00',
      }),
    )
    const [read] = await conversationLog.readStream(db.sql, s)
    expect(e!.recordedAt).toBe('2026-11-26T12:00:00.000Z')
    expect(read!.recordedAt).toBe(e!.recordedAt)
    expect(read!.hash).toBe(e!.hash)
  })
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditEvent } from '../src/audit/audit-events.ts'
import type { ConversationHistory } from '../src/audit/conversation-history.ts'
import { describeReport, verifyNdjson } from '../src/audit/verify-chain.ts'
import { verifyDatabase } from '../src/audit/verify-database.ts'
import { conversationLog } from '../src/conversation-log.ts'
import { directConversationId } from '../src/domain/conversation-id.ts'
import { LOG_CHANNEL } from '../src/eventstore/log-notifier.ts'
import { rebuildProjections } from '../src/projections/rebuild.ts'
import { verifyProjections } from '../src/projections/verify.ts'
import { type AuditFixture, createAuditFixture } from './support/audit-fixture.ts'

// Distinctive words, so that a leftover is found in any column of any table, tsvectors included.
const SECRET_WORD = 'zanzibar42'
const SECRET_EDIT = 'quetzal77'
const SECRET_FILE = 'olga-passport-scan'
const KEPT = 'pete keeps this'

let f: AuditFixture
let auditor: string
let pete: string
let group: string
let direct: string
const olgaMessages = new Map<string, string[]>()
let signals = 0

beforeAll(async () => {
  f = await createAuditFixture()
  auditor = await f.token('ann-auditor', 'auditor')
  pete = await f.token('pete')
  group = await f.startGroup('olga', ['pete', 'quinn'], 'Book club')
  direct = directConversationId('olga', 'pete')
  const sentBy = async (conversationId: string, messageId: string) =>
    olgaMessages.set(conversationId, [...(olgaMessages.get(conversationId) ?? []), messageId])

  const first = crypto.randomUUID()
  await f.run('olga', {
    type: 'SendMessage',
    conversationId: direct,
    receiverId: 'pete',
    messageId: first,
    content: `my address, ${SECRET_WORD} street 1`,
  })
  await sentBy(direct, first)
  const withFile = crypto.randomUUID()
  await f.run('olga', {
    type: 'SendMessage',
    conversationId: group,
    messageId: withFile,
    content: `scan attached ${SECRET_WORD}`,
    attachments: [
      {
        url: `https://files.example.com/${SECRET_FILE}.png`,
        name: `${SECRET_FILE}.png`,
        mimeType: 'image/png',
        size: 1234,
      },
    ],
  })
  await sentBy(group, withFile)
  const edited = await f.send('olga', group, `draft ${SECRET_WORD}`)
  await f.run('olga', {
    type: 'EditMessage',
    conversationId: group,
    messageId: edited.messageId,
    content: `better ${SECRET_EDIT}`,
  })
  await sentBy(group, edited.messageId)
  const deleted = await f.send('olga', group, `oops ${SECRET_WORD}`)
  await f.run('olga', {
    type: 'DeleteMessage',
    conversationId: group,
    messageId: deleted.messageId,
  })
  await sentBy(group, deleted.messageId)
  await f.send('pete', group, KEPT)
  await f.run('pete', { type: 'MarkRead', conversationId: group })
  await f.services.db.signals.subscribe(LOG_CHANNEL, () => {
    signals++
  })
})
afterAll(async () => {
  await f?.close()
})

const erase = (userId: string, token: string, reason = 'GDPR art. 17 request #4711') =>
  f.call(`/api/audit/users/${userId}/erase`, { token, method: 'POST', body: { reason } })

/** Every row of every table in the schema whose text contains the word. */
async function leftovers(word: string) {
  const tables = await f.sql<{ name: string }[]>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'`
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['events', 'messages']))
  const found: string[] = []
  for (const { name } of tables) {
    const [row] = await f.sql.unsafe<{ n: number }[]>(
      `select count(*)::int as n from "${name}" t where t::text ilike $1`,
      [`%${word}%`],
    )
    if (row!.n > 0) found.push(`${name}: ${row!.n}`)
  }
  return found
}

async function search(q: string) {
  const res = await f.call(`/api/chat/search?q=${encodeURIComponent(q)}`, { token: pete })
  expect(res.status).toBe(200)
  return ((await res.json()) as { items: { message: { id: string } }[] }).items
}

async function exportText() {
  const res = await f.call('/api/audit/events', { token: auditor, accept: 'application/x-ndjson' })
  expect(res.status).toBe(200)
  return res.text()
}

describe('erasing a user’s content', () => {
  it('has something to erase (the content is in the log, the read models and search)', async () => {
    expect(await leftovers(SECRET_WORD)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^events/)]),
    )
    expect((await search(SECRET_WORD)).length).toBeGreaterThan(0)
    expect(await exportText()).toContain(SECRET_FILE)
  })

  it('is refused to plain users and recorded for auditors, one event per conversation naming the messages', async () => {
    expect((await erase('olga', pete)).status).toBe(403)
    const res = await erase('olga', auditor)
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({
      userId: 'olga',
      erasedBy: 'ann-auditor',
      reason: 'GDPR art. 17 request #4711',
      messageCount: 4,
    })
    expect(body.conversations).toHaveLength(2)

    const events = await f.sql<
      { stream_id: string; data: Record<string, unknown>; metadata: Record<string, unknown> }[]
    >`
      select stream_id, data, metadata from events where type = 'UserContentErased' order by stream_id`
    expect(events).toHaveLength(2)
    for (const e of events) {
      expect(e.data).toMatchObject({
        conversationId: e.stream_id,
        userId: 'olga',
        erasedBy: 'ann-auditor',
        reason: 'GDPR art. 17 request #4711',
      })
      expect([...(e.data.messageIds as string[])].sort()).toEqual(
        [...olgaMessages.get(e.stream_id)!].sort(),
      )
      expect(e.metadata).toMatchObject({ actorId: 'ann-auditor' })
    }
    // the followers were woken
    expect(signals).toBeGreaterThan(0)
  })

  it('removes the content and its salt from the log, keeping the digest; others’ content stays', async () => {
    const rows = await f.sql<
      {
        type: string
        sender: string
        content: unknown
        content_salt: string | null
        content_digest: string | null
      }[]
    >`
      select type, coalesce(data->>'senderId', data->>'editorId') as sender, content, content_salt, content_digest
      from events where type in ('MessageSent', 'MessageEdited')`
    const olga = rows.filter((r) => r.sender === 'olga')
    expect(olga).toHaveLength(5)
    for (const r of olga) {
      expect(r).toMatchObject({ content: null, content_salt: null })
      expect(r.content_digest).toMatch(/^[0-9a-f]{64}$/)
    }
    expect(rows.find((r) => r.sender === 'pete')!.content).toEqual({
      content: KEPT,
      attachments: [],
    })
    const events = await conversationLog.readStream(f.sql, group)
    const sent = events.filter((e) => e.type === 'MessageSent' && e.data.senderId === 'olga')
    expect(sent.every((e) => e.erased && e.type === 'MessageSent' && e.data.content === null)).toBe(
      true,
    )
  })

  it('leaves no trace of the content in any table, read model or search result', async () => {
    for (const word of [SECRET_WORD, SECRET_EDIT, SECRET_FILE]) {
      expect(await leftovers(word), word).toEqual([])
      expect(await search(word), word).toEqual([])
    }
    expect(await search('keeps')).toHaveLength(1)
    const res = await f.call(`/api/chat/conversations/${group}/messages`, { token: pete })
    const { items } = (await res.json()) as {
      items: { senderId: string; content: string | null; attachments: unknown[] | null }[]
    }
    expect(
      items.filter((m) => m.senderId === 'olga').map((m) => [m.content, m.attachments]),
    ).toEqual([
      [null, null], // deleted before the erasure: stays deleted
      [null, []],
      [null, []],
    ])
    expect(items.find((m) => m.senderId === 'pete')!.content).toBe(KEPT)
  })

  it('leaves no trace in exports, and every chain still verifies, online and offline', async () => {
    const text = await exportText()
    for (const word of [SECRET_WORD, SECRET_EDIT, SECRET_FILE]) expect(text).not.toContain(word)
    const exported = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent)
    expect(exported.filter((e) => e.erased)).toHaveLength(5)

    const db = await verifyDatabase(f.sql)
    expect(db.ok, describeReport(db)).toBe(true)
    expect(db.contentsErased).toBe(5)
    const offline = await verifyNdjson(
      (async function* () {
        yield text
      })(),
    )
    expect(offline.ok, describeReport(offline)).toBe(true)
    expect(offline.contentsErased).toBe(5)
  })

  it('gives the same read models when the log is replayed (projections:verify finds no difference)', async () => {
    const before = await verifyProjections(f.sql)
    expect(before.differences).toEqual([])
    await rebuildProjections(f.sql)
    expect(await leftovers(SECRET_WORD)).toEqual([])
    expect((await verifyProjections(f.sql)).differences).toEqual([])
  })

  it('shows the erasure in the conversation’s history', async () => {
    const [head] = await f.sql<{ position: string }[]>`select max(position) as position from events`
    const res = await f.call(`/api/audit/streams/${group}?at=${head!.position}`, { token: auditor })
    const { state } = (await res.json()) as { state: ConversationHistory }
    expect(state.erasures).toEqual([
      expect.objectContaining({
        userId: 'olga',
        erasedBy: 'ann-auditor',
        messageIds: expect.any(Array),
      }),
    ])
    const olga = state.messages.filter((m) => m.senderId === 'olga')
    expect(olga.map((m) => [m.erased, m.content, m.originalContent])).toEqual([
      [true, null, null],
      [true, null, null],
      [true, null, null],
    ])
    expect(olga[1]!.edits.map((e) => e.content)).toEqual([null])
  })

  it('is a no-op the second time, and allowed to admins', async () => {
    const [before] = await f.sql<{ n: number }[]>`select count(*)::int as n from events`
    const admin = await f.token('root', 'admin')
    const res = await erase('olga', admin, 'second request')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ userId: 'olga', conversations: [], messageCount: 0 })
    const again = await erase('olga', auditor)
    expect((await again.json()).conversations).toEqual([])
    const [after] = await f.sql<{ n: number }[]>`select count(*)::int as n from events`
    expect(after!.n).toBe(before!.n)
  })

  it('races with the user still sending: what precedes the erasure event is erased, the rest kept', async () => {
    const c = await f.startGroup('rita', ['sam', 'tom'], 'Race')
    for (let i = 0; i < 3; i++) await f.send('rita', c, `before ${i}`)
    const sending = (async () => {
      for (let i = 0; i < 10; i++) await f.send('rita', c, `during ${i}`)
    })()
    const res = await erase('rita', auditor, 'race')
    await sending
    expect(res.status).toBe(200)
    const rows = await f.sql<{ version: number; type: string; content: unknown }[]>`
      select version, type, content from events
      where stream_id = ${c} and type in ('MessageSent', 'UserContentErased') order by version`
    const erasedAt = rows.find((r) => r.type === 'UserContentErased')!.version
    const sent = rows.filter((r) => r.type === 'MessageSent')
    expect(sent).toHaveLength(13)
    for (const r of sent) {
      expect(r.content === null, `version ${r.version}`).toBe(r.version < erasedAt)
    }
    const body = await res.json()
    const named = body.conversations.find((x: { conversationId: string }) => x.conversationId === c)
    expect(named.messageIds).toHaveLength(sent.filter((r) => r.version < erasedAt).length)
    expect((await verifyDatabase(f.sql)).ok).toBe(true)
    expect((await verifyProjections(f.sql)).differences).toEqual([])
  })

  it('rejects an erasure without a reason', async () => {
    for (const body of [{}, { reason: '   ' }]) {
      const res = await f.call('/api/audit/users/pete/erase', {
        token: auditor,
        method: 'POST',
        body,
      })
      expect(res.status).toBe(400)
    }
    expect(await search('keeps')).toHaveLength(1)
  })
})

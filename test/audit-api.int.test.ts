import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditEvent } from '../src/audit/audit-events.ts'
import type { ConversationHistory } from '../src/audit/conversation-history.ts'
import { describeReport, type VerifyReport, verifyNdjson } from '../src/audit/verify-chain.ts'
import { verifyDatabase } from '../src/audit/verify-database.ts'
import { verifyDatabaseParallel } from '../src/audit/verify-parallel.node.ts'
import { type AuditFixture, createAuditFixture, ndjsonLines } from './support/audit-fixture.ts'

let f: AuditFixture
let auditor: string
let g1: string
let g2: string

beforeAll(async () => {
  f = await createAuditFixture()
  auditor = await f.token('ann-auditor', 'auditor')
  g1 = await f.startGroup('alice', ['bob', 'carol'], 'Launch')
  g2 = await f.startGroup('dave', ['erin', 'frank'], 'Finance')
  await f.send('alice', g1, 'hello team')
  await f.send('bob', g1, 'hi alice')
  await f.send('dave', g2, 'budget is due friday')
})
afterAll(async () => {
  await f?.close()
})

const ndjson = 'application/x-ndjson'

async function exportedText() {
  const res = await f.call('/api/audit/events', { token: auditor, accept: ndjson })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain(ndjson)
  return res.text()
}

async function* once(text: string) {
  yield text
}

describe('access', () => {
  const routes = () => [
    { path: '/api/audit/events' },
    { path: '/api/audit/events', accept: ndjson },
    { path: `/api/audit/streams/${g1}` },
    { path: `/api/audit/streams/${g1}?at=1` },
    { path: '/api/audit/users/bob/erase', method: 'POST', body: { reason: 'gdpr request' } },
  ]

  it('answers 401 without a valid token on every audit route', async () => {
    for (const route of routes()) {
      expect((await f.call(route.path, route)).status, route.path).toBe(401)
      const bad = await f.call(route.path, { ...route, token: 'not-a-token' })
      expect(bad.status, route.path).toBe(401)
    }
  })

  it('answers 403 to every non-auditor on every audit route, members of the conversation too', async () => {
    const tokens = [
      await f.token('alice'),
      await f.token('alice', 'user'),
      await f.token('mallory', 'Auditor'),
    ]
    for (const token of tokens) {
      for (const route of routes()) {
        const res = await f.call(route.path, { ...route, token })
        expect(res.status, route.path).toBe(403)
        expect((await res.json()).error.code).toBe('forbidden')
      }
    }
    // admins may erase (see the erasure tests) but not read the audit trail
    const admin = await f.token('root', 'admin')
    for (const route of routes().filter((r) => r.method !== 'POST')) {
      expect((await f.call(route.path, { ...route, token: admin })).status, route.path).toBe(403)
    }
    // nothing was erased by the refused requests
    const [row] =
      await f.sql`select count(*)::int as n from events where type = 'UserContentErased'`
    expect(row!.n).toBe(0)
  })

  it('shows auditors every conversation, though they are in none', async () => {
    const res = await f.call('/api/audit/events?limit=1000', { token: auditor })
    expect(res.status).toBe(200)
    const { items } = (await res.json()) as { items: AuditEvent[] }
    expect(new Set(items.map((e) => e.streamId))).toEqual(new Set([g1, g2]))
    const g2Events = await f.call(`/api/audit/streams/${g2}`, { token: auditor })
    expect(g2Events.status).toBe(200)
    const body = (await g2Events.json()) as { items: AuditEvent[] }
    expect(body.items.map((e) => e.type)).toEqual(['ConversationStarted', 'MessageSent'])
    expect(body.items[1]!.content).toEqual({ content: 'budget is due friday', attachments: [] })
  })
})

describe('GET /api/audit/events', () => {
  it('pages through the log in order with `next`, each item carrying what verification needs', async () => {
    const all = (await (
      await f.call('/api/audit/events?limit=1000', { token: auditor })
    ).json()) as {
      items: AuditEvent[]
      next: number | null
    }
    expect(all.next).toBeNull()
    const paged: AuditEvent[] = []
    let after = 0
    for (;;) {
      const res = await f.call(`/api/audit/events?after=${after}&limit=2`, { token: auditor })
      const page = (await res.json()) as { items: AuditEvent[]; next: number | null }
      paged.push(...page.items)
      if (page.next === null) break
      after = page.next
    }
    expect(paged).toEqual(all.items)
    const sent = all.items.find((e) => e.type === 'MessageSent')!
    expect(Object.keys(sent).sort()).toEqual(
      [
        'position',
        'streamId',
        'version',
        'type',
        'schemaVersion',
        'data',
        'content',
        'contentSalt',
        'contentDigest',
        'erased',
        'metadata',
        'recordedAt',
        'hash',
      ].sort(),
    )
    expect(sent.data).not.toHaveProperty('content')
    expect(sent.contentDigest).toMatch(/^[0-9a-f]{64}$/)
    expect(sent.metadata).toMatchObject({ actorId: 'alice' })
    expect(sent.recordedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  })

  it('filters by type, stream, actor and recorded time', async () => {
    const get = async (query: string) => {
      const res = await f.call(`/api/audit/events?limit=1000&${query}`, { token: auditor })
      expect(res.status, query).toBe(200)
      return ((await res.json()) as { items: AuditEvent[] }).items
    }
    const all = await get('')
    expect((await get('type=MessageSent')).map((e) => e.type)).toEqual(
      all.filter((e) => e.type === 'MessageSent').map((e) => e.type),
    )
    expect(await get(`type=MessageSent,ConversationStarted&streamId=${g2}`)).toEqual(
      all.filter((e) => e.streamId === g2),
    )
    expect((await get('actor=bob')).map((e) => e.data)).toEqual([
      expect.objectContaining({ senderId: 'bob' }),
    ])
    const third = all[2]!
    const fromThird = await get(`from=${encodeURIComponent(third.recordedAt)}`)
    expect(fromThird[0]).toEqual(third)
    const beforeThird = await get(`to=${encodeURIComponent(third.recordedAt)}`)
    expect(beforeThird).toEqual(all.slice(0, 2))
  })

  it('rejects an unknown type, a bad limit and an `after` that is no event', async () => {
    for (const query of ['type=Nope', 'limit=0', 'limit=1001', 'after=-1', 'from=yesterday']) {
      const res = await f.call(`/api/audit/events?${query}`, { token: auditor })
      expect(res.status, query).toBe(400)
    }
    const res = await f.call('/api/audit/events?after=999999', { token: auditor, accept: ndjson })
    expect(res.status).toBe(400)
    expect((await res.json()).error.message).toContain('no event at position 999999')
  })

  it('exports the whole selection as NDJSON, the same events as the pages', async () => {
    const lines = await ndjsonLines(
      await f.call(`/api/audit/events?streamId=${g1}`, { token: auditor, accept: ndjson }),
    )
    const page = (await (
      await f.call(`/api/audit/events?streamId=${g1}&limit=1000`, { token: auditor })
    ).json()) as { items: AuditEvent[] }
    expect(lines).toEqual(page.items)
    expect(lines.map((e) => e.version)).toEqual([1, 2, 3])
  })
})

describe('time travel: GET /api/audit/streams/:id?at=', () => {
  it('shows the old text before an edit, and the new one with its history after', async () => {
    const c = await f.startGroup('gina', ['hank', 'ivan'], 'Drafts')
    const draft = await f.send('gina', c, 'first draft')
    const other = await f.send('hank', c, 'looks good')
    const edit = await f.run('gina', {
      type: 'EditMessage',
      conversationId: c,
      messageId: draft.messageId,
      content: 'final text',
    })
    const read = await f.run('ivan', { type: 'MarkRead', conversationId: c })
    const left = await f.run('ivan', { type: 'LeaveConversation', conversationId: c })
    const deleted = await f.run('hank', {
      type: 'DeleteMessage',
      conversationId: c,
      messageId: other.messageId,
    })

    const at = async (position: number) => {
      const res = await f.call(`/api/audit/streams/${c}?at=${position}`, { token: auditor })
      expect(res.status).toBe(200)
      return ((await res.json()) as { state: ConversationHistory }).state
    }

    const before = await at(edit.position! - 1)
    const beforeDraft = before.messages.find((m) => m.messageId === draft.messageId)!
    expect(beforeDraft).toMatchObject({ content: 'first draft', originalContent: 'first draft' })
    expect(beforeDraft.edits).toEqual([])
    expect(before.readMarkers).toEqual([])

    const after = await at(edit.position!)
    const afterDraft = after.messages.find((m) => m.messageId === draft.messageId)!
    expect(afterDraft).toMatchObject({ content: 'final text', originalContent: 'first draft' })
    expect(afterDraft.edits).toEqual([
      expect.objectContaining({ content: 'final text', editorId: 'gina', position: edit.position }),
    ])
    expect(after.version).toBe(4)
    expect(after.position).toBe(edit.position)

    const end = await at(deleted.position!)
    expect(end.title).toBe('Drafts')
    expect(end.messages.find((m) => m.messageId === other.messageId)!.deleted).toMatchObject({
      deletedBy: 'hank',
      position: deleted.position,
    })
    expect(end.readMarkers).toEqual([
      expect.objectContaining({ userId: 'ivan', upToMessageId: other.messageId }),
    ])
    expect(end.participants.map((p) => [p.userId, p.current])).toEqual([
      ['gina', true],
      ['hank', true],
      ['ivan', false],
    ])
    expect(end.participants[2]!.memberships[0]).toMatchObject({ leftVersion: 6 })
    expect(read.position).toBeLessThan(left.position!)

    // before the conversation existed: no state; a stream that never existed: 404
    const first = (
      (await (await f.call(`/api/audit/streams/${c}`, { token: auditor })).json()) as {
        items: AuditEvent[]
      }
    ).items[0]!
    expect(await at(first.position - 1)).toBeNull()
    const missing = await f.call('/api/audit/streams/nope?at=5', { token: auditor })
    expect(missing.status).toBe(404)
  })

  it('shows roles, their changes, removals, renames and delivered markers at each position', async () => {
    const c = await f.startGroup('olga', ['pete', 'quin'], 'Crew')
    const hello = await f.send('olga', c, 'hello crew')
    const promoted = await f.run('olga', {
      type: 'ChangeParticipantRole',
      conversationId: c,
      userId: 'pete',
      role: 'admin',
    })
    const renamed = await f.run('pete', {
      type: 'RenameConversation',
      conversationId: c,
      title: 'Ship',
    })
    const delivered = await f.run('quin', { type: 'MarkDelivered', conversationId: c })
    const removed = await f.run('pete', {
      type: 'RemoveParticipant',
      conversationId: c,
      userId: 'quin',
    })
    const at = async (position: number) => {
      const res = await f.call(`/api/audit/streams/${c}?at=${position}`, { token: auditor })
      expect(res.status).toBe(200)
      return ((await res.json()) as { state: ConversationHistory }).state
    }
    const roles = (h: ConversationHistory) => h.participants.map((p) => [p.userId, p.role])

    const start = await at(hello.position!)
    expect(roles(start)).toEqual([
      ['olga', 'owner'],
      ['pete', 'member'],
      ['quin', 'member'],
    ])
    expect(start.renames).toEqual([])
    expect(start.deliveredMarkers).toEqual([])

    const later = await at(delivered.position!)
    expect(roles(later)).toEqual([
      ['olga', 'owner'],
      ['pete', 'admin'],
      ['quin', 'member'],
    ])
    expect(later.participants[1]!.roleChanges).toEqual([
      expect.objectContaining({ role: 'admin', changedBy: 'olga', position: promoted.position }),
    ])
    expect(later.title).toBe('Ship')
    expect(later.renames).toEqual([
      expect.objectContaining({ title: 'Ship', renamedBy: 'pete', position: renamed.position }),
    ])
    expect(later.deliveredMarkers).toEqual([
      expect.objectContaining({ userId: 'quin', upToMessageId: hello.messageId }),
    ])

    const end = await at(removed.position!)
    const quin = end.participants.find((p) => p.userId === 'quin')!
    expect(quin).toMatchObject({ current: false, role: null })
    expect(quin.memberships[0]).toMatchObject({
      removedBy: 'pete',
      leftVersion: expect.any(Number),
    })
    expect(end.participants.find((p) => p.userId === 'pete')!.memberships[0]!.removedBy).toBeNull()
  })

  it('lists a stream’s events by version, in pages', async () => {
    const page1 = (await (
      await f.call(`/api/audit/streams/${g1}?limit=2`, { token: auditor })
    ).json()) as { items: AuditEvent[]; next: number | null }
    expect(page1.items.map((e) => e.version)).toEqual([1, 2])
    expect(page1.next).toBe(2)
    const page2 = (await (
      await f.call(`/api/audit/streams/${g1}?after=2&limit=2`, { token: auditor })
    ).json()) as { items: AuditEvent[]; next: number | null }
    expect(page2.items.map((e) => e.version)).toEqual([3])
    expect(page2.next).toBeNull()
  })
})

describe('tamper evidence: export, then verify offline and in the database', () => {
  it('passes on an untouched log, in the database and in its export', async () => {
    const db = await verifyDatabase(f.sql)
    expect(db.ok, describeReport(db)).toBe(true)
    const [count] = await f.sql`select count(*)::int as n from events`
    expect(db.events).toBe(count!.n)
    const offline = await verifyNdjson(once(await exportedText()))
    expect(offline).toMatchObject({ ok: true, events: count!.n, streams: db.streams })
  })

  async function freshStream(messages = 4) {
    const c = await f.startGroup('kim', ['lee', 'max'], 'Evidence')
    for (let i = 1; i <= messages; i++) await f.send('kim', c, `evidence ${i}`)
    return c
  }

  const breakOf = (report: VerifyReport, stream: string) =>
    report.breaks.find((b) => b.streamId === stream)

  it('names the event whose data was changed by SQL', async () => {
    const c = await freshStream()
    await f.sql`
      update events set data = jsonb_set(data, '{senderId}', '"mallory"')
      where stream_id = ${c} and version = 3`
    const db = await verifyDatabase(f.sql)
    expect(breakOf(db, c)).toMatchObject({ kind: 'hash_mismatch', version: 3 })
    expect(breakOf(db, c)!.message).toContain('recorded fields of version 3 were changed')
    const offline = await verifyNdjson(once(await exportedText()))
    expect(breakOf(offline, c)).toMatchObject({ kind: 'hash_mismatch', version: 3 })
    expect(describeReport(offline)).toMatch(/^BROKEN/)
  })

  it('names a message whose text was changed by SQL', async () => {
    const c = await freshStream()
    await f.sql`
      update events set content = jsonb_set(content, '{content}', '"I never said that"')
      where stream_id = ${c} and version = 2`
    const db = await verifyDatabase(f.sql)
    expect(breakOf(db, c)).toMatchObject({ kind: 'content_mismatch', version: 2 })
    const offline = await verifyNdjson(once(await exportedText()))
    expect(breakOf(offline, c)).toMatchObject({ kind: 'content_mismatch', version: 2 })
  })

  it('names the gap of a deleted row, and a deleted last row through the stream head', async () => {
    const c = await freshStream()
    await f.sql`delete from events where stream_id = ${c} and version = 3`
    const db = await verifyDatabase(f.sql)
    expect(breakOf(db, c)).toMatchObject({ kind: 'missing_events', version: 4, expected: '3' })
    const offline = await verifyNdjson(once(await exportedText()))
    expect(breakOf(offline, c)).toMatchObject({ kind: 'missing_events', version: 4 })

    const tail = await freshStream()
    await f.sql`delete from events where stream_id = ${tail} and version = 5`
    const head = await verifyDatabase(f.sql)
    expect(breakOf(head, tail)).toMatchObject({ kind: 'stream_head_mismatch', version: 4 })
    expect(breakOf(head, tail)!.message).toContain('events after it were deleted')
  })

  it('names two swapped rows, in the database and as two exchanged lines of an export', async () => {
    const c = await freshStream()
    await f.sql.begin(async (tx) => {
      await tx`update events set version = -2 where stream_id = ${c} and version = 2`
      await tx`update events set version = 2 where stream_id = ${c} and version = 3`
      await tx`update events set version = 3 where stream_id = ${c} and version = -2`
    })
    const db = await verifyDatabase(f.sql)
    expect(breakOf(db, c)).toMatchObject({ kind: 'hash_mismatch', version: 2 })
    expect(breakOf(db, c)!.message).toContain('versions 2 and 3 were swapped')

    const d = await freshStream()
    const lines = (await exportedText()).split('\n')
    const find = (version: number) =>
      lines.findIndex((l) => {
        const e = l ? (JSON.parse(l) as AuditEvent) : null
        return e?.streamId === d && e.version === version
      })
    const [i, j] = [find(3), find(4)]
    expect(i).toBeGreaterThan(0)
    ;[lines[i], lines[j]] = [lines[j]!, lines[i]!]
    const offline = await verifyNdjson(once(lines.join('\n')))
    expect(breakOf(offline, d)).toMatchObject({ kind: 'missing_events', version: 4, line: i + 1 })
    expect(describeReport(offline)).toContain('BROKEN')
  })

  it('reports the same on several threads as on one (one exported snapshot, slices of streams)', async () => {
    const single = await verifyDatabase(f.sql)
    const parallel = await verifyDatabaseParallel({
      sql: f.sql,
      url: f.db.url,
      schema: f.db.schema,
      threads: 3,
    })
    expect(single.ok).toBe(false)
    expect(parallel).toEqual(single)
  })
})

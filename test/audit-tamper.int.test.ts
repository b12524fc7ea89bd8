import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportAuditEvents } from '../src/audit/audit-events.ts'
import type { StoredCheckpoint } from '../src/audit/checkpoint-store.ts'
import { verifyCheckpoint } from '../src/audit/checkpoints.ts'
import { type VerifyReport, verifyNdjson } from '../src/audit/verify-chain.ts'
import {
  checkAgainstCheckpoint,
  type TreeFinding,
  TreeRebuilder,
} from '../src/audit/verify-tree.ts'
import { eventHash, GENESIS_HASH } from '../src/eventstore/event-hash.ts'
import { type AuditFixture, createAuditFixture } from './support/audit-fixture.ts'
import { buildTreeTo } from './support/audit-tree.ts'

type Line = Record<string, unknown> & {
  position: number
  streamId: string
  version: number
  type: string
  hash: string
  data: Record<string, unknown>
  content: Record<string, unknown> | null
  contentSalt: string | null
  contentDigest: string | null
  erased: boolean
}

let f: AuditFixture
let checkpoint: StoredCheckpoint
let exported: Line[]
let g1: string
let g2: string

beforeAll(async () => {
  f = await createAuditFixture()
  const auditor = await f.token('ann-auditor', 'auditor')
  g1 = await f.startGroup('alice', ['bob', 'carol'], 'Launch')
  g2 = await f.startGroup('dave', ['erin', 'alice'], 'Finance')
  for (let i = 0; i < 6; i++) {
    await f.send(['alice', 'bob', 'carol'][i % 3]!, g1, `launch note ${i}`)
    await f.send(['dave', 'erin', 'alice'][i % 3]!, g2, `budget line ${i}`)
  }
  const erased = await f.call('/api/audit/users/erin/erase', {
    token: auditor,
    method: 'POST',
    body: { reason: 'gdpr request' },
  })
  expect(erased.status).toBe(200)
  await f.send('bob', g1, 'after the erasure')
  await buildTreeTo(f.sql)
  checkpoint = (await f.keeper.turn(true))!
  const body = await exportAuditEvents(f.sql, {}, { strategy: 'pages' })
  exported = (await new Response(body).text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
  expect(exported.length).toBe(checkpoint.treeSize)
})
afterAll(async () => {
  await f?.close()
})

/** What `audit:verify --file --checkpoint --public-key` does, on lines in memory. */
async function verify(lines: Line[]): Promise<{ report: VerifyReport; tree: TreeFinding }> {
  const verified = await verifyCheckpoint(checkpoint.text, { keys: [f.signer.publicJwk] })
  const tree = new TreeRebuilder([verified.treeSize])
  const report = await verifyNdjson(
    (async function* () {
      yield lines.map((l) => JSON.stringify(l)).join('\n')
    })(),
    { onRecord: (r, line) => tree.add(r.position, r.hash, line) },
  )
  return { report, tree: checkAgainstCheckpoint(tree, verified) }
}

const copy = () => exported.map((l) => structuredClone(l))
const ofStream = (lines: Line[], id: string) => lines.filter((l) => l.streamId === id)

/** Recomputes the chain of a stream from its first event on, as someone with write access can. */
function rechain(lines: Line[], streamId: string) {
  let previous = GENESIS_HASH
  for (const l of ofStream(lines, streamId)) {
    l.hash = eventHash(previous, {
      streamId: l.streamId,
      version: l.version,
      type: l.type,
      schemaVersion: l.schemaVersion as number,
      data: l.data,
      contentDigest: l.contentDigest,
      metadata: l.metadata,
      recordedAt: l.recordedAt as string,
    })
    previous = l.hash
  }
}

describe('audit:verify with a checkpoint', () => {
  it('passes the untouched export: every chain, every erasure, and the signed root', async () => {
    const { report, tree } = await verify(exported)
    expect(report.ok).toBe(true)
    expect(report.contentsErased).toBeGreaterThan(0)
    expect(tree).toMatchObject({ ok: true })
  })

  const cases: [string, (lines: Line[]) => Line[], 'chain' | 'tree' | 'both'][] = [
    [
      'changed text',
      (lines) => {
        const m = lines.find((l) => l.type === 'MessageSent' && l.content)!
        m.content = { ...m.content, content: 'we never said that' }
        return lines
      },
      'chain',
    ],
    [
      'changed data',
      (lines) => {
        const m = lines.find((l) => l.type === 'MessageSent')!
        m.data = { ...m.data, senderId: 'mallory' }
        return lines
      },
      'chain',
    ],
    [
      'deleted middle row',
      (lines) => {
        const victim = ofStream(lines, g1)[3]!
        return lines.filter((l) => l !== victim)
      },
      'both',
    ],
    [
      'deleted last row of a stream',
      (lines) => {
        const victim = ofStream(lines, g1).at(-1)!
        return lines.filter((l) => l !== victim)
      },
      'tree',
    ],
    ['deleted whole stream', (lines) => lines.filter((l) => l.streamId !== g1), 'tree'],
    [
      'recomputed chain after a rewrite',
      (lines) => {
        const m = ofStream(lines, g1).find((l) => l.type === 'MessageSent')!
        m.data = { ...m.data, sentAt: '2020-01-01T00:00:00.000Z' }
        rechain(lines, g1)
        return lines
      },
      'tree',
    ],
    [
      'rows swapped across streams',
      (lines) => {
        const a = ofStream(lines, g1)[2]!
        const b = ofStream(lines, g2)[2]!
        const [pa, pb] = [a.position, b.position]
        a.position = pb
        b.position = pa
        const ia = lines.indexOf(a)
        const ib = lines.indexOf(b)
        lines[ia] = b
        lines[ib] = a
        return lines
      },
      'tree',
    ],
    [
      'fake erasure',
      (lines) => {
        const m = ofStream(lines, g1).find((l) => l.type === 'MessageSent' && l.content)!
        m.content = null
        m.contentSalt = null
        m.erased = true
        return lines
      },
      'chain',
    ],
    [
      'deleted erasure event',
      (lines) => lines.filter((l) => l.type !== 'UserContentErased'),
      'both',
    ],
    [
      'content nulled with erased: false',
      (lines) => {
        const m = ofStream(lines, g1).find((l) => l.type === 'MessageSent' && l.content)!
        m.content = null
        m.contentSalt = null
        return lines
      },
      'chain',
    ],
  ]

  it.each(cases)('catches: %s', async (_name, tamper, caughtBy) => {
    const { report, tree } = await verify(tamper(copy()))
    expect(report.ok && tree.ok).toBe(false)
    if (caughtBy !== 'tree') expect(report.ok).toBe(false)
    if (caughtBy !== 'chain') expect(tree.ok).toBe(false)
  })

  it('names a silent removal and a deleted erasure event as erasure mismatches', async () => {
    const fake = copy()
    const m = ofStream(fake, g1).find((l) => l.type === 'MessageSent' && l.content)!
    m.content = null
    m.contentSalt = null
    m.erased = true
    const { report } = await verify(fake)
    expect(report.breaks[0]).toMatchObject({ kind: 'erasure_mismatch', streamId: g1 })
    expect(report.breaks[0]!.message).toMatch(/no later UserContentErased/)

    // the erasure event of g2 is its last event: its chain alone cannot show it is gone
    const { report: withoutEvent } = await verify(
      copy().filter((l) => l.type !== 'UserContentErased'),
    )
    expect(withoutEvent.breaks.map((b) => [b.kind, b.streamId])).toContainEqual([
      'erasure_mismatch',
      g2,
    ])

    // an erasure event that names a message whose content is still there (chain recomputed)
    const overclaimed = copy()
    const kept = ofStream(overclaimed, g2).find((l) => l.type === 'MessageSent' && l.content)!
    const named = ofStream(overclaimed, g2).find((l) => l.type === 'UserContentErased')!
    named.data = {
      ...named.data,
      messageIds: [...(named.data.messageIds as string[]), kept.data.messageId],
    }
    rechain(overclaimed, g2)
    const { report: notCarriedOut, tree } = await verify(overclaimed)
    expect(notCarriedOut.breaks[0]).toMatchObject({
      kind: 'erasure_mismatch',
      streamId: g2,
      version: kept.version,
    })
    expect(notCarriedOut.breaks[0]!.message).toMatch(/still holds its content/)
    expect(tree.ok).toBe(false)
  })

  it('names a truncated export by how many events it lacks', async () => {
    const { tree } = await verify(copy().slice(0, -3))
    expect(tree.ok).toBe(false)
    expect(tree.message).toMatch(/3 are missing/)
  })
})

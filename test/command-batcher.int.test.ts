import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCommandBatcher } from '../src/application/command-batcher.ts'
import {
  type CommandOptions,
  type CommandOutcome,
  handleCommand,
  TooMuchContentionError,
} from '../src/application/command-handler.ts'
import { executeUserCommand } from '../src/application/user-settings.ts'
import { conversationLog } from '../src/conversation-log.ts'
import type { ConversationCommand } from '../src/domain/commands.ts'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import { toApiError } from '../src/edge/api-error.ts'
import { type Database, openDatabase } from '../src/eventstore/database.ts'
import { migrate } from '../src/eventstore/migrations.ts'
import { applyProjections } from '../src/projections/index.ts'
import { captureLogger } from './support/capture-logger.ts'
import { fanoutDatabase } from './support/fanout-cluster.ts'
import { createTestDatabase } from './support/test-database.ts'

// Two databases: one fed through the batcher with every command issued at once, the other one
// command at a time (each awaited before the next is issued).
let batched: Database
let sequential: Database
beforeAll(async () => {
  ;[batched, sequential] = await Promise.all([createTestDatabase(), createTestDatabase()])
})
afterAll(async () => {
  await Promise.all([batched?.close(), sequential?.close()])
})

const batcherOn = (
  db: Database,
  maxBatchSize = 256,
  projections = applyProjections,
  maxInFlight = 1,
) =>
  createCommandBatcher({ sql: db.sql, writer: db.writer, projections, maxBatchSize, maxInFlight })

/** The StartConversation of a group `id` with `participantIds` besides its creator. */
const startGroup = (id: string, participantIds: string[], title = 't'): ConversationCommand => ({
  type: 'StartConversation',
  conversationId: id,
  kind: 'group',
  participantIds,
  title,
})

/** `query` run every 10 ms until it returns a row; its rows then. */
async function rowsOnceAny<T>(query: () => Promise<T[]>): Promise<T[]> {
  for (;;) {
    const rows = await query()
    if (rows.length > 0) return rows
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

type Step = { command: ConversationCommand; options: CommandOptions }

/** What a caller learnt: the outcome without ids that differ between databases, or the error. */
function answerOf(result: PromiseSettledResult<CommandOutcome>) {
  if (result.status === 'rejected') {
    const e = result.reason as { code?: string; name?: string }
    return { error: e.code ?? e.name }
  }
  const o = result.value
  return {
    conversationId: o.conversationId,
    messageId: o.messageId,
    duplicate: o.duplicate,
    appended: o.position !== null,
    events: o.events.map((e) => [e.type, e.version]),
  }
}

async function streamsOf(db: Database, ids: string[]) {
  const out: Record<string, unknown[]> = {}
  for (const id of ids) {
    out[id] = (await conversationLog.readStream(db.sql, id)).map((e) => ({
      type: e.type,
      version: e.version,
      data: e.data,
      actorId: e.metadata.actorId,
      commandId: e.metadata.commandId.startsWith('client-') ? e.metadata.commandId : 'generated',
      recordedAt: e.recordedAt,
    }))
  }
  return out
}

async function readModelsOf(db: Database, ids: string[]) {
  const [members, conversations, messages, facts, results, mentions, settings] = await Promise.all([
    db.sql`select conversation_id, user_id, joined_version, left_version, read_up_to_version,
        read_up_to_message_id, read_at, unread_count, last_activity_at
      from conversation_members where conversation_id = any(${ids}::text[])
      order by conversation_id, user_id`,
    db.sql`select * from conversations where conversation_id = any(${ids}::text[])
      order by conversation_id`,
    db.sql`select conversation_id, version, message_id, sender_id, content, attachments,
        client_message_id, sent_at, edited_at, deleted_at, erased
      from messages where conversation_id = any(${ids}::text[]) order by conversation_id, version`,
    db.sql`select * from message_facts where conversation_id = any(${ids}::text[])
      order by message_id`,
    db.sql`select actor_id, command_id, command_type, result from command_results
      where result->>'conversationId' = any(${ids}::text[]) order by actor_id, command_id`,
    db.sql`select * from message_mentions where conversation_id = any(${ids}::text[])
      order by conversation_id, message_id, user_id`,
    db.sql`select * from conversation_settings where conversation_id = any(${ids}::text[])
      order by conversation_id, user_id`,
  ])
  // positions differ between the databases; everything else must not
  const noPosition = results.map((r) => ({
    ...r,
    result: {
      ...(r.result as object),
      position: (r.result as { position: unknown }).position !== null,
    },
  }))
  return { members, conversations, messages, facts, results: noPosition, mentions, settings }
}

const actors = ['ann', 'bob', 'cid', 'dee']

type RawStep = {
  kind: string
  actor: number
  other: number
  conversation: number
  target: number
  clientId: number | null
}

/** A random scenario: abstract steps turned into commands with fixed ids and times. */
const scenario = fc.array(
  fc.record({
    kind: fc.constantFrom(
      'start',
      'send',
      'send',
      'send',
      'sendDirect',
      'edit',
      'delete',
      'read',
      'add',
      'leave',
      'empty',
      'react',
      'react',
      'unreact',
      'deliver',
      'deliver',
      'role',
      'remove',
      'rename',
    ),
    actor: fc.nat(actors.length - 1),
    other: fc.nat(actors.length - 1),
    conversation: fc.nat(2),
    target: fc.nat(30),
    clientId: fc.option(fc.nat(2), { freq: 2 }),
  }),
  { minLength: 1, maxLength: 40, size: 'max' },
)

function materialize(run: string, steps: RawStep[], withGroups: boolean) {
  const groups = [0, 1, 2].map((i) => `${run}-g${i}`)
  const direct = directConversationId(`${run}-${actors[0]}`, `${run}-${actors[1]}`)
  const sent: { conversationId: string; messageId: string }[] = []
  const t0 = Date.parse('2026-03-01T00:00:00.000Z')
  // Most runs start with the groups in place, so that most commands have something to act on.
  const starts: RawStep[] = withGroups
    ? [0, 1, 2].map((conversation) => ({
        kind: 'start',
        actor: conversation,
        other: 0,
        conversation,
        target: 0,
        clientId: null,
      }))
    : []
  return [...starts, ...steps].map((s, i): Step => {
    const actor = `${run}-${actors[s.actor]}`
    const other = `${run}-${actors[s.other]}`
    const conversationId = groups[s.conversation]!
    const options: CommandOptions = {
      actorId: actor,
      now: new Date(t0 + i).toISOString(),
      clientCommandId: s.clientId === null ? null : `client-${s.clientId}`,
    }
    const messageId = `${run}-m${i}`
    const target = sent.length ? sent[s.target % sent.length]! : null
    let command: ConversationCommand
    switch (s.kind) {
      case 'start':
        command = startGroup(
          conversationId,
          actors.filter((_, j) => j !== s.actor).map((a) => `${run}-${a}`),
          `g${s.conversation}`,
        )
        break
      case 'send':
      case 'empty':
        command = {
          type: 'SendMessage',
          conversationId,
          messageId,
          content: s.kind === 'empty' ? '   ' : `m${i}`,
          // some mention another member (or someone who left: a rejection), so that batches
          // hold runs of messages with and without mentions
          ...(s.target % 3 === 0 ? { mentions: [other] } : {}),
        }
        sent.push({ conversationId, messageId })
        break
      case 'sendDirect': {
        const [a, b] = [`${run}-${actors[0]}`, `${run}-${actors[1]}`]
        const from = s.actor === 1 ? b : a
        command = {
          type: 'SendMessage',
          conversationId: direct,
          messageId,
          content: `d${i}`,
          receiverId: from === a ? b : a,
        }
        options.actorId = from
        sent.push({ conversationId: direct, messageId })
        break
      }
      case 'edit':
        command = target
          ? { type: 'EditMessage', ...target, content: `edited ${i}` }
          : { type: 'EditMessage', conversationId, messageId: 'none', content: 'x' }
        break
      case 'delete':
        command = target
          ? { type: 'DeleteMessage', ...target }
          : { type: 'DeleteMessage', conversationId, messageId: 'none' }
        break
      case 'read':
        command = {
          type: 'MarkRead',
          conversationId: target?.conversationId ?? conversationId,
          upToMessageId: s.target % 2 ? (target?.messageId ?? null) : null,
        }
        break
      case 'add':
        command = { type: 'AddParticipant', conversationId, userId: other }
        break
      case 'deliver':
        command = {
          type: 'MarkDelivered',
          conversationId: target?.conversationId ?? conversationId,
          upToMessageId: s.target % 2 ? (target?.messageId ?? null) : null,
        }
        break
      case 'role':
        command = {
          type: 'ChangeParticipantRole',
          conversationId,
          userId: other,
          role: (['admin', 'member', 'owner'] as const)[s.target % 3]!,
        }
        break
      case 'remove':
        command = { type: 'RemoveParticipant', conversationId, userId: other }
        break
      case 'rename':
        command = { type: 'RenameConversation', conversationId, title: `t${s.target % 3}` }
        break
      case 'react':
      case 'unreact':
        // few emojis, so that reactions of one batch meet on the same message and emoji
        command = {
          type: s.kind === 'react' ? 'AddReaction' : 'RemoveReaction',
          ...(target ?? { conversationId, messageId: 'none' }),
          emoji: ['👍', ':tada:'][s.other % 2]!,
        }
        break
      default:
        command = { type: 'LeaveConversation', conversationId }
    }
    return { command, options }
  })
}

describe('command batcher', () => {
  it('gives the same events, answers and read models as running the commands one at a time', async () => {
    let runs = 0
    let appended = 0
    let rejected = 0
    let grouped = 0
    let blockedAnswers = 0
    await fc.assert(
      fc.asyncProperty(
        scenario,
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(null, 0, 1),
        fc.option(fc.record({ actor: fc.nat(actors.length - 1), mutedFor: fc.option(fc.nat(40)) })),
        async (raw, cap, withGroups, inFlight, blocker, archiving) => {
          const run = `r${runs++}-${crypto.randomUUID().slice(0, 6)}`
          // with a block, the blocked user writes to the blocker at least once (the last step):
          // whether any command meets the block is not left to the random steps
          const blockedSends: RawStep[] =
            blocker === null
              ? []
              : [
                  {
                    kind: 'sendDirect',
                    actor: blocker === 0 ? 1 : 0,
                    other: 0,
                    conversation: 0,
                    target: 0,
                    clientId: null,
                  },
                ]
          const steps = materialize(run, [...raw, ...blockedSends], withGroups)
          // one user may have archived the groups, muted for a while: a message after the mute
          // unarchives (issue 12), whether it is decided alone or in a run of messages
          if (archiving) {
            const t0 = Date.parse('2026-03-01T00:00:00.000Z')
            for (const db of [batched, sequential]) {
              for (const g of [0, 1, 2]) {
                await executeUserCommand(
                  { sql: db.sql, writer: db.sql, projections: applyProjections },
                  { userId: `${run}-${actors[archiving.actor]}`, correlationId: run },
                  {
                    type: 'ChangeConversationSettings',
                    conversationId: `${run}-g${g}`,
                    archived: true,
                    ...(archiving.mutedFor === null
                      ? {}
                      : {
                          muted: true,
                          mutedUntil: new Date(t0 + archiving.mutedFor).toISOString(),
                        }),
                  },
                  new Date(Date.parse('2026-02-01T00:00:00.000Z')),
                )
              }
            }
          }
          // one of the two users of the direct conversation may block the other (issue 12)
          if (blocker !== null) {
            const [a, b] = [`${run}-${actors[0]}`, `${run}-${actors[1]}`]
            for (const db of [batched, sequential]) {
              await executeUserCommand(
                { sql: db.sql, writer: db.sql, projections: applyProjections },
                { userId: blocker === 0 ? a : b, correlationId: run },
                { type: 'BlockUser', userId: blocker === 0 ? b : a },
                new Date(Date.parse('2026-02-01T00:00:00.000Z')),
              )
            }
          }
          const ids = [...new Set([...steps.map((s) => s.command.conversationId)])]
          const together = batcherOn(batched, cap, applyProjections, inFlight)
          const concurrent = await Promise.allSettled(
            steps.map((s) => together.execute(s.command, s.options)),
          )
          // the reference: the one-transaction-per-command handler, one command at a time
          const alone: PromiseSettledResult<CommandOutcome>[] = []
          for (const s of steps) {
            const one = handleCommand(
              { sql: sequential.sql, writer: sequential.writer, projections: applyProjections },
              s.command,
              s.options,
            )
            alone.push((await Promise.allSettled([one]))[0]!)
          }
          expect(concurrent.map(answerOf)).toEqual(alone.map(answerOf))
          const events = concurrent.flatMap((r) => (r.status === 'fulfilled' ? r.value.events : []))
          appended += events.length
          rejected += concurrent.filter((r) => r.status === 'rejected').length
          blockedAnswers += concurrent.filter(
            (r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'blocked',
          ).length
          // group commit happened: some transaction wrote the events of several commands
          const commandsPerTx = new Map<string, Set<string>>()
          for (const e of events) {
            const set = commandsPerTx.get(e.transactionId) ?? new Set()
            set.add(e.metadata.commandId)
            commandsPerTx.set(e.transactionId, set)
          }
          if ([...commandsPerTx.values()].some((set) => set.size > 1)) grouped++
          expect(await streamsOf(batched, ids)).toEqual(await streamsOf(sequential, ids))
          expect(await readModelsOf(batched, ids)).toEqual(await readModelsOf(sequential, ids))
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 30) },
    )
    expect(appended).toBeGreaterThan(0)
    expect(rejected).toBeGreaterThan(0)
    expect(grouped).toBeGreaterThan(0)
    expect(blockedAnswers).toBeGreaterThan(0)
  })

  it('a run of messages in one batch unarchives as the same messages one by one do', async () => {
    const run = crypto.randomUUID().slice(0, 8)
    const [a, b, c] = [`${run}-a`, `${run}-b`, `${run}-c`]
    const t = (ms: number) => new Date(Date.parse('2026-03-01T00:00:00.000Z') + ms).toISOString()
    // b archived both groups, muted until t(10): messages before it keep them archived
    const early = `${run}-early`
    const straddling = `${run}-straddling`
    const results: Record<string, unknown> = {}
    for (const db of [batched, sequential]) {
      const batcher = batcherOn(db)
      for (const g of [early, straddling]) {
        await batcher.execute(startGroup(g, [b, c], 'archived'), { actorId: a, now: t(0) })
        await executeUserCommand(
          { sql: db.sql, writer: db.sql, projections: applyProjections },
          { userId: b, correlationId: run },
          {
            type: 'ChangeConversationSettings',
            conversationId: g,
            archived: true,
            muted: true,
            mutedUntil: t(10),
          },
          new Date(t(1)),
        )
      }
      const send = (g: string, at: number) =>
        batcher.execute(
          { type: 'SendMessage', conversationId: g, messageId: newId(), content: `at ${at}` },
          { actorId: a, now: t(at) },
        )
      if (db === batched) {
        // issued in one tick: one batch, one run of four plain messages
        await Promise.all([
          send(early, 5),
          send(early, 8),
          send(straddling, 9),
          send(straddling, 11),
        ])
      } else {
        for (const [g, at] of [
          [early, 5],
          [early, 8],
          [straddling, 9],
          [straddling, 11],
        ] as const) {
          await send(g, at)
        }
      }
      results[db === batched ? 'batched' : 'sequential'] = await db.sql`
        select conversation_id, archived from conversation_settings
        where user_id = ${b} order by conversation_id`
    }
    expect(results.batched).toEqual([
      { conversation_id: early, archived: true },
      { conversation_id: straddling, archived: false },
    ])
    expect(results.batched).toEqual(results.sequential)
  })

  it('a domain rejection fails only its own command; the rest of its batch commits', async () => {
    const run = crypto.randomUUID().slice(0, 8)
    const [a, b, c] = [`${run}-a`, `${run}-b`, `${run}-c`] as const
    const id = `${run}-g`
    const batcher = batcherOn(batched)
    const now = new Date().toISOString()
    const results = await Promise.allSettled([
      batcher.execute(startGroup(id, [b, c]), { actorId: a, now }),
      batcher.execute(
        { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'one' },
        { actorId: b, now },
      ),
      batcher.execute(
        { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'x' },
        { actorId: `${run}-stranger`, now },
      ),
      batcher.execute(
        { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'two' },
        { actorId: c, now },
      ),
    ])
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ])
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'not_participant' })
    const events = await conversationLog.readStream(batched.sql, id)
    expect(events.map((e) => e.type)).toEqual(['ConversationStarted', 'MessageSent', 'MessageSent'])
    // each caller gets its own position, after the commit, in arrival order
    const positions = results
      .filter((r) => r.status === 'fulfilled')
      .map((r) => (r as PromiseFulfilledResult<CommandOutcome>).value.position)
    expect(positions).toEqual(events.map((e) => e.position))
  })

  it('two commands with one client id in one batch: one event, both get the same answer', async () => {
    const run = crypto.randomUUID().slice(0, 8)
    const [a, b] = [`${run}-a`, `${run}-b`]
    const id = directConversationId(a, b)
    const batcher = batcherOn(batched)
    const now = new Date().toISOString()
    const send = () =>
      batcher.execute(
        {
          type: 'SendMessage',
          conversationId: id,
          messageId: newId(),
          content: 'once',
          receiverId: b,
        },
        { actorId: a, now, clientCommandId: 'same' },
      )
    const [first, second, third] = await Promise.all([send(), send(), send()])
    expect(first.duplicate).toBe(false)
    for (const again of [second, third]) {
      expect(again).toMatchObject({
        duplicate: true,
        messageId: first.messageId,
        position: first.position,
        conversationId: id,
      })
    }
    const events = await conversationLog.readStream(batched.sql, id)
    expect(events.map((e) => e.type)).toEqual(['ConversationStarted', 'MessageSent'])
    // and a retry in a later batch gets it from the stored result
    expect(await send()).toMatchObject({ duplicate: true, position: first.position })
  })

  it('new direct conversations started by their first messages, in one batch with messages to others: the same read models as one at a time', async () => {
    // the batch's events alternate starts and messages (start, first message, start, …): the
    // inline projections apply the starts before the run of messages (src/projections/index.ts)
    const run = crypto.randomUUID().slice(0, 8)
    const [a, b, c] = [`${run}-a`, `${run}-b`, `${run}-c`]
    const group = `${run}-g`
    const now = new Date().toISOString()
    const steps: Step[] = []
    const directs: string[] = []
    for (let i = 0; i < 6; i++) {
      const [x, y] = [`${run}-x${i}`, `${run}-y${i}`]
      directs.push(directConversationId(x, y))
      steps.push(
        {
          command: {
            type: 'SendMessage',
            conversationId: group,
            messageId: newId(),
            content: `g${i}`,
          },
          options: { actorId: [a, b, c][i % 3]!, now },
        },
        {
          command: {
            type: 'SendMessage',
            conversationId: directs[i]!,
            messageId: newId(),
            content: `first ${i}`,
            receiverId: y,
            ...(i % 2 ? { mentions: [y] } : {}),
          },
          options: { actorId: x, now },
        },
      )
      // an answer in an earlier new conversation, behind a later one's start
      if (i > 0) {
        const [px, py] = [`${run}-x${i - 1}`, `${run}-y${i - 1}`]
        steps.push({
          command: {
            type: 'SendMessage',
            conversationId: directs[i - 1]!,
            messageId: newId(),
            content: `reply ${i - 1}`,
            receiverId: px,
          },
          options: { actorId: py, now },
        })
      }
    }
    for (const db of [batched, sequential]) {
      await batcherOn(db).execute(startGroup(group, [b, c]), { actorId: a, now })
    }
    const together = batcherOn(batched)
    const outcomes = await Promise.all(steps.map((s) => together.execute(s.command, s.options)))
    for (const s of steps)
      await handleCommand(
        { sql: sequential.sql, writer: sequential.writer, projections: applyProjections },
        s.command,
        s.options,
      )
    // one batch: every event of these commands in one transaction
    const transactions = new Set(outcomes.flatMap((o) => o.events.map((e) => e.transactionId)))
    expect(transactions.size).toBe(1)
    expect(outcomes.flatMap((o) => o.events.map((e) => e.type))).toContain('ConversationStarted')
    const ids = [group, ...directs]
    expect(await streamsOf(batched, ids)).toEqual(await streamsOf(sequential, ids))
    expect(await readModelsOf(batched, ids)).toEqual(await readModelsOf(sequential, ids))
  })

  it('a database error in the middle of a batch leaves nothing of it; every caller gets the error', async () => {
    const run = crypto.randomUUID().slice(0, 8)
    const [a, b, c] = [`${run}-a`, `${run}-b`, `${run}-c`] as const
    const id = `${run}-g`
    const batcher = batcherOn(batched)
    await batcher.execute(startGroup(id, [b, c]), { actorId: a, now: new Date().toISOString() })
    const before = await readModelsOf(batched, [id])
    // A projection that fails after the events were appended and the first read models written.
    const failing = createCommandBatcher({
      sql: batched.sql,
      writer: batched.writer,
      maxBatchSize: 256,
      // the failing statement sent last, behind the read models' statements: every statement
      // sent before any is awaited (InlineProjection), as the batcher sends COMMIT right behind
      projections: async (tx, events) => {
        const boom = events.some((e) => e.type === 'MessageSent' && e.data.content === 'boom')
        await Promise.all([
          applyProjections(tx, events),
          boom ? (async () => await tx`select 1 / 0`)() : undefined,
        ])
      },
    })
    const other = directConversationId(`${run}-x`, `${run}-y`)
    const now = new Date().toISOString()
    const results = await Promise.allSettled([
      failing.execute(
        { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'fine' },
        { actorId: b, now, clientCommandId: 'k1' },
      ),
      failing.execute(
        {
          type: 'SendMessage',
          conversationId: other,
          messageId: newId(),
          content: 'hi',
          receiverId: `${run}-y`,
        },
        { actorId: `${run}-x`, now },
      ),
      failing.execute(
        { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'boom' },
        { actorId: c, now },
      ),
      failing.execute({ type: 'MarkRead', conversationId: id }, { actorId: a, now }),
    ])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected'])
    for (const r of results) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: '22012' })
    }
    expect((await conversationLog.readStream(batched.sql, id)).map((e) => e.type)).toEqual([
      'ConversationStarted',
    ])
    expect(await conversationLog.readStream(batched.sql, other)).toEqual([])
    expect(await readModelsOf(batched, [id])).toEqual(before)
    expect(await readModelsOf(batched, [other])).toMatchObject({
      members: [],
      messages: [],
      facts: [],
    })
    const [stored] =
      await batched.sql`select 1 from command_results where actor_id = ${b} and command_id = 'k1'`
    expect(stored).toBeUndefined()
    // the process goes on: the same command, retried, is applied once
    const retried = await batcher.execute(
      { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'fine' },
      { actorId: b, now, clientCommandId: 'k1' },
    )
    expect(retried.duplicate).toBe(false)
    expect((await conversationLog.readStream(batched.sql, id)).map((e) => e.type)).toEqual([
      'ConversationStarted',
      'MessageSent',
    ])
  })

  it("keeps every message and each sender's order with 50 senders in one conversation", async () => {
    const run = crypto.randomUUID().slice(0, 8)
    const senders = Array.from({ length: 50 }, (_, i) => `${run}-s${i}`)
    const id = `${run}-g`
    const batcher = batcherOn(batched, 16, applyProjections, 3)
    await batcher.execute(startGroup(id, senders.slice(1), 'busy'), {
      actorId: senders[0]!,
      now: new Date().toISOString(),
    })
    await Promise.all(
      senders.map(async (s) => {
        for (let i = 0; i < 10; i++) {
          await batcher.execute(
            { type: 'SendMessage', conversationId: id, messageId: newId(), content: `${s}:${i}` },
            { actorId: s, now: new Date().toISOString() },
          )
        }
      }),
    )
    const events = await conversationLog.readStream(batched.sql, id)
    const contents = events
      .filter((e) => e.type === 'MessageSent')
      .map((e) => (e.data as { content: string }).content)
    expect(contents).toHaveLength(500)
    for (const s of senders) {
      expect(contents.filter((c) => c.startsWith(`${s}:`))).toEqual(
        Array.from({ length: 10 }, (_, i) => `${s}:${i}`),
      )
    }
    // positions ascend with versions
    const positions = events.map((e) => e.position)
    expect(positions).toEqual([...positions].sort((x, y) => x - y))
  })

  it('two batchers (two processes) on one conversation: a lost race re-decides, nothing is lost', async () => {
    const run = crypto.randomUUID().slice(0, 8)
    const senders = Array.from({ length: 4 }, (_, i) => `${run}-s${i}`)
    const id = `${run}-g`
    const { log, lines } = captureLogger()
    // two processes: each its own pools on one PostgreSQL (the embedded database has one
    // connection and one process, so no race; embedded runs use a private PostgreSQL)
    const pg = await fanoutDatabase()
    const [first, second] = (await Promise.all(
      [0, 1].map(() => openDatabase({ url: pg.url, schema: pg.schema, max: 4 })),
    )) as [Database, Database]
    await migrate(first.sql)
    const [one, two] = [first, second].map((db) =>
      createCommandBatcher({
        sql: db.sql,
        writer: db.writer,
        projections: applyProjections,
        maxBatchSize: 8,
        log,
      }),
    ) as [ReturnType<typeof batcherOn>, ReturnType<typeof batcherOn>]
    try {
      await one.execute(startGroup(id, senders.slice(1), 'shared'), {
        actorId: senders[0]!,
        now: new Date().toISOString(),
      })
      // a conversation only `one` writes: its commands share batches with those of the contested
      // one, and a batch rolled back for the race is written again whole
      const own = `${run}-own`
      await one.execute(startGroup(own, senders.slice(1), 'own'), {
        actorId: senders[0]!,
        now: new Date().toISOString(),
      })
      const ownSends = (async () => {
        for (let i = 0; i < 50; i++) {
          await one.execute(
            { type: 'SendMessage', conversationId: own, messageId: newId(), content: `own:${i}` },
            { actorId: senders[1]!, now: new Date().toISOString(), clientCommandId: `own-${i}` },
          )
        }
      })()
      await Promise.all(
        senders.flatMap((s) =>
          [one, two].map(async (batcher, b) => {
            for (let i = 0; i < 25; i++) {
              await batcher.execute(
                {
                  type: 'SendMessage',
                  conversationId: id,
                  messageId: newId(),
                  content: `${s}/${b}:${i}`,
                },
                { actorId: s, now: new Date().toISOString(), clientCommandId: `${b}-${i}` },
              )
            }
          }),
        ),
      )
      const contents = (await conversationLog.readStream(first.sql, id))
        .filter((e) => e.type === 'MessageSent')
        .map((e) => (e.data as { content: string }).content)
      expect(contents).toHaveLength(200)
      for (const s of senders) {
        for (const b of [0, 1]) {
          expect(contents.filter((c) => c.startsWith(`${s}/${b}:`))).toEqual(
            Array.from({ length: 25 }, (_, i) => `${s}/${b}:${i}`),
          )
        }
      }
      await ownSends
      const ownContents = (await conversationLog.readStream(first.sql, own))
        .filter((e) => e.type === 'MessageSent')
        .map((e) => (e.data as { content: string }).content)
      expect(ownContents).toEqual(Array.from({ length: 50 }, (_, i) => `own:${i}`))
      // the read models hold each message once, and every answer its own position
      const rows = await first.sql<{ conversation_id: string; n: number }[]>`
        select conversation_id, count(*)::int as n from messages
        where conversation_id in (${id}, ${own}) group by conversation_id order by conversation_id`
      expect(rows).toEqual([
        { conversation_id: id, n: 200 },
        { conversation_id: own, n: 50 },
      ])
      const stored = await first.sql<{ ok: boolean }[]>`
        select (r.result->>'position')::bigint = e.position and e.stream_id = ${own} as ok
        from command_results r
        join events e on e.stream_id = ${own} and e.data->>'messageId' = r.result->>'messageId'
        where r.actor_id = ${senders[1]!} and r.command_id like 'own-%'`
      expect(stored).toHaveLength(50)
      expect(stored.every((r) => r.ok)).toBe(true)
      // the batchers did race (each read a version the other then moved on)
      expect(lines.filter((l) => l.msg.startsWith('conversations changed')).length).toBeGreaterThan(
        0,
      )
    } finally {
      await Promise.all([first.close(), second.close()])
      await pg.close()
    }
  }, 60_000)

  it('a client id another process records first while the batch is written: decided again, its answer', async () => {
    const run = crypto.randomUUID().slice(0, 8)
    const [a, b, c] = [`${run}-a`, `${run}-b`, `${run}-c`] as const
    const id = `${run}-g`
    // the other process's transaction and ours must run at once: a PostgreSQL of its own on
    // embedded runs (one connection there)
    const pg = await fanoutDatabase()
    const applicationName = `batcher-race-${run}`
    const db = await openDatabase({ url: pg.url, schema: pg.schema, max: 4, applicationName })
    try {
      await migrate(db.sql)
      const batcher = createCommandBatcher({
        sql: db.sql,
        writer: db.writer,
        projections: applyProjections,
        maxBatchSize: 8,
      })
      await batcher.execute(startGroup(id, [b, c]), { actorId: a, now: new Date().toISOString() })
      const earlier = { conversationId: `${run}-elsewhere`, messageId: `${run}-m0`, position: 7 }
      let answer: Promise<CommandOutcome> | undefined
      // The other process records the same client id and holds it uncommitted until our batch,
      // which read no such record, waits on it at its own insert; then it commits.
      await db.sql.begin(async (tx) => {
        await tx`
          insert into command_results (actor_id, command_id, command_type, result, recorded_at)
          values (${b}, 'k1', 'SendMessage', ${tx.json(earlier)}, now())`
        answer = batcher.execute(
          { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'x' },
          { actorId: b, now: new Date().toISOString(), clientCommandId: 'k1' },
        )
        answer.catch(() => {})
        await rowsOnceAny(
          () => db.sql`
            select 1 from pg_stat_activity
            where application_name = ${applicationName} and wait_event_type = 'Lock'
              and query like '%insert into command_results%'`,
        )
      })
      // one race lost, decided again: the other process's answer, and nothing appended
      expect(await answer).toMatchObject({ ...earlier, duplicate: true, events: [] })
      expect((await conversationLog.readStream(db.sql, id)).map((e) => e.type)).toEqual([
        'ConversationStarted',
      ])
      expect(await db.sql`select 1 from messages where conversation_id = ${id}`).toHaveLength(0)
    } finally {
      await db.close()
      await pg.close()
    }
  }, 60_000)

  it('a writer connection killed while the batch is written: its callers get the error, nothing of it stays, the next command goes through', async () => {
    const run = crypto.randomUUID().slice(0, 8)
    const [a, b, c] = [`${run}-a`, `${run}-b`, `${run}-c`] as const
    const id = `${run}-g`
    // a backend to kill: a PostgreSQL of its own on embedded runs (one connection there)
    const pg = await fanoutDatabase()
    const applicationName = `batcher-kill-${run}`
    const setup = await openDatabase({ url: pg.url, schema: pg.schema, max: 3 })
    const db = await openDatabase({ url: pg.url, schema: pg.schema, max: 4, applicationName })
    try {
      await migrate(setup.sql)
      await createCommandBatcher({ sql: setup.sql, writer: setup.writer, maxBatchSize: 8 }).execute(
        startGroup(id, [b, c]),
        { actorId: a, now: new Date().toISOString() },
      )
      // The message's event sleeps on its way into the log, so that the batch is caught in the
      // middle of its writes. On the batcher's new writer connection every statement is
      // described before it runs, so postgres.js still holds the later ones back then.
      await setup.sql.unsafe(`
        create function slow_${run}() returns trigger language plpgsql as $$
        begin perform pg_sleep(30); return new; end $$;
        create trigger slow_${run} before insert on events for each row
          when (new.stream_id = '${id}' and new.type = 'MessageSent')
          execute function slow_${run}();`)
      const batcher = createCommandBatcher({
        sql: db.sql,
        writer: db.writer,
        projections: applyProjections,
        maxBatchSize: 8,
      })
      const send = (content: string, clientCommandId: string) =>
        batcher.execute(
          { type: 'SendMessage', conversationId: id, messageId: newId(), content },
          { actorId: b, now: new Date().toISOString(), clientCommandId },
        )
      const killed = Promise.allSettled([send('one', 'k1'), send('two', 'k2')])
      const [sleeping] = await rowsOnceAny(
        () => setup.sql<{ pid: number }[]>`
          select pid from pg_stat_activity
          where application_name = ${applicationName} and wait_event = 'PgSleep'`,
      )
      await setup.sql`select pg_terminate_backend(${sleeping!.pid})`
      const answers = await killed
      expect(answers.map((r) => r.status)).toEqual(['rejected', 'rejected'])
      await setup.sql.unsafe(`drop trigger slow_${run} on events; drop function slow_${run}();`)
      expect((await conversationLog.readStream(setup.sql, id)).map((e) => e.type)).toEqual([
        'ConversationStarted',
      ])
      expect(await setup.sql`select 1 from messages where conversation_id = ${id}`).toHaveLength(0)
      expect(await setup.sql`select 1 from command_results where actor_id = ${b}`).toHaveLength(0)
      // The writer pool reconnects: the same command, retried, is applied once. The first
      // command after the kill may still get the kill's error (57P01, answered 503) once, from
      // postgres.js, as before the COMMIT was sent behind the writes.
      let retried: CommandOutcome | undefined
      for (let attempt = 0; attempt < 3 && !retried; attempt++) {
        retried = await send('one', 'k1').catch((error) => {
          expect(error).toMatchObject({ code: '57P01' })
          return undefined
        })
      }
      expect(retried?.duplicate).toBe(false)
      expect((await conversationLog.readStream(setup.sql, id)).map((e) => e.type)).toEqual([
        'ConversationStarted',
        'MessageSent',
      ])
    } finally {
      await Promise.all([db.close(), setup.close()])
      await pg.close()
    }
  }, 60_000)

  it('answers 503 contention (Retry-After) only when a conversation cannot make progress', async () => {
    const run = crypto.randomUUID().slice(0, 8).replaceAll('-', '')
    const [a, b, c] = [`${run}-a`, `${run}-b`, `${run}-c`] as const
    const id = `${run}-g`
    const batcher = batcherOn(batched)
    await batcher.execute(startGroup(id, [b, c]), { actorId: a, now: new Date().toISOString() })
    // Stands for other processes moving the conversation on every time: its stream row refuses
    // every update, so each append of ours finds it "changed".
    await batched.sql.unsafe(`
      create function stuck_${run}() returns trigger language plpgsql as $$
      begin
        if old.stream_id = '${id}' then return null; end if;
        return new;
      end $$;
      create trigger stuck_${run} before update on streams
        for each row execute function stuck_${run}();`)
    try {
      const other = directConversationId(`${run}-x`, `${run}-y`)
      const now = new Date().toISOString()
      const [stuck, fine] = await Promise.allSettled([
        batcher.execute(
          { type: 'SendMessage', conversationId: id, messageId: newId(), content: 'x' },
          { actorId: b, now },
        ),
        batcher.execute(
          {
            type: 'SendMessage',
            conversationId: other,
            messageId: newId(),
            content: 'y',
            receiverId: `${run}-y`,
          },
          { actorId: `${run}-x`, now },
        ),
      ])
      expect(fine.status).toBe('fulfilled')
      expect(stuck.status).toBe('rejected')
      const error = (stuck as PromiseRejectedResult).reason
      expect(error).toBeInstanceOf(TooMuchContentionError)
      const api = toApiError(error)!
      expect(api.status).toBe(503)
      expect(api.code).toBe('contention')
      expect(api.headers?.['Retry-After']).toBe('1')
      expect((await conversationLog.readStream(batched.sql, id)).map((e) => e.type)).toEqual([
        'ConversationStarted',
      ])
    } finally {
      await batched.sql.unsafe(
        `drop trigger stuck_${run} on streams; drop function stuck_${run}();`,
      )
    }
  })

  describe('reactions in one batch', () => {
    /** A batcher that records the size of every batch it starts. */
    const sizedBatcher = () => {
      const sizes: number[] = []
      const batcher = createCommandBatcher({
        sql: batched.sql,
        writer: batched.writer,
        projections: applyProjections,
        maxBatchSize: 256,
        onBatch: (size) => sizes.push(size),
      })
      return { batcher, sizes }
    }
    const react = (conversationId: string, messageId: string, emoji: string) =>
      ({ type: 'AddReaction', conversationId, messageId, emoji }) as const
    const reactionsFact = async (messageId: string) =>
      (
        await batched.sql<{ reactions: Record<string, string[]> }[]>`
          select reactions from message_facts where message_id = ${messageId}`
      )[0]!.reactions

    async function directMessage(run: string) {
      const [a, b] = [`${run}-a`, `${run}-b`]
      const conversationId = directConversationId(a, b)
      const messageId = newId()
      await batcherOn(batched).execute(
        { type: 'SendMessage', conversationId, messageId, content: 'hi', receiverId: b },
        { actorId: a, now: new Date().toISOString() },
      )
      return { a, b, conversationId, messageId }
    }

    it('the same reaction twice by one user: one ReactionAdded, the second a no-op', async () => {
      const { b, conversationId, messageId } = await directMessage(crypto.randomUUID().slice(0, 8))
      const { batcher, sizes } = sizedBatcher()
      const now = new Date().toISOString()
      const [first, second] = await Promise.all([
        batcher.execute(react(conversationId, messageId, '👍'), { actorId: b, now }),
        batcher.execute(react(conversationId, messageId, '👍'), { actorId: b, now }),
      ])
      expect(sizes).toEqual([2])
      expect(first.events.map((e) => e.type)).toEqual(['ReactionAdded'])
      expect(second.events).toEqual([])
      expect(second.position).toBeNull()
      const events = await conversationLog.readStream(batched.sql, conversationId)
      expect(events.map((e) => e.type)).toEqual([
        'ConversationStarted',
        'MessageSent',
        'ReactionAdded',
      ])
      expect(await reactionsFact(messageId)).toEqual({ '👍': [b] })
    })

    it('50 different emojis then a 51st in one batch: the 51st is limit_reached', async () => {
      const { a, conversationId, messageId } = await directMessage(crypto.randomUUID().slice(0, 8))
      const { batcher, sizes } = sizedBatcher()
      const now = new Date().toISOString()
      const emojis = Array.from({ length: 51 }, (_, i) => `:e${i}:`)
      const results = await Promise.allSettled(
        emojis.map((emoji) =>
          batcher.execute(react(conversationId, messageId, emoji), { actorId: a, now }),
        ),
      )
      expect(sizes).toEqual([51])
      expect(results.slice(0, 50).every((r) => r.status === 'fulfilled')).toBe(true)
      expect(results[50]!.status).toBe('rejected')
      expect((results[50] as PromiseRejectedResult).reason).toMatchObject({
        code: 'limit_reached',
      })
      const events = await conversationLog.readStream(batched.sql, conversationId)
      expect(events.filter((e) => e.type === 'ReactionAdded')).toHaveLength(50)
      expect(Object.keys(await reactionsFact(messageId))).toEqual(emojis.slice(0, 50))
    })

    it('a message sent, reacted on and deleted in one batch: its facts follow every step', async () => {
      const run = crypto.randomUUID().slice(0, 8)
      const { a, b, conversationId } = await directMessage(run)
      const { batcher, sizes } = sizedBatcher()
      const now = new Date().toISOString()
      const [kept, gone] = [newId(), newId()]
      const send = (messageId: string) =>
        batcher.execute(
          { type: 'SendMessage', conversationId, messageId, content: 'x' },
          { actorId: a, now },
        )
      await Promise.all([
        send(kept),
        send(gone),
        batcher.execute(react(conversationId, kept, '🎉'), { actorId: b, now }),
        batcher.execute(react(conversationId, gone, '🎉'), { actorId: b, now }),
        batcher.execute(react(conversationId, kept, '👍'), { actorId: a, now }),
        batcher.execute(
          { type: 'DeleteMessage', conversationId, messageId: gone },
          { actorId: a, now },
        ),
      ])
      expect(sizes).toEqual([6])
      expect(await reactionsFact(kept)).toEqual({ '🎉': [b], '👍': [a] })
      expect(await reactionsFact(gone)).toEqual({})
      // a later batch decides against those facts: the repeat is a no-op, the deleted refuses
      const again = await Promise.allSettled([
        batcher.execute(react(conversationId, kept, '🎉'), { actorId: b, now }),
        batcher.execute(react(conversationId, gone, '👍'), { actorId: b, now }),
      ])
      expect(again[0]).toMatchObject({ status: 'fulfilled', value: { events: [] } })
      expect(again[1]).toMatchObject({ status: 'rejected', reason: { code: 'message_deleted' } })
    })
  })
})

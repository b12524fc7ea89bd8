import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveMessageRefs } from '../src/application/message-refs.ts'
import { executeUserCommand } from '../src/application/user-settings.ts'
import type { ConversationCommand } from '../src/domain/commands.ts'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import { DomainError } from '../src/domain/errors.ts'
import type { UserCommand } from '../src/domain/user-settings.ts'
import { getConversationView } from '../src/projections/conversations.ts'
import { getMessageView } from '../src/projections/messages.ts'
import { rebuildProjections } from '../src/projections/rebuild.ts'
import { searchMessages } from '../src/projections/search.ts'
import { verifyProjections } from '../src/projections/verify.ts'
import type { Services } from '../src/services.ts'
import { createChatServices } from './support/chat-services.ts'
import { eraseUserContentForTest } from './support/erase-content.ts'
import { usingPostgres } from './support/test-database.ts'

let services: Services
beforeAll(async () => {
  services = await createChatServices()
})
afterAll(async () => {
  await services?.db.close()
})

const users = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6']
const words = ['alpha', 'beta', 'Gamma', 'Zürich', 'naïve', 'o’brien', '42', 'hello', 'world']
const user = fc.constantFrom(...users)
const text = fc
  .array(fc.constantFrom(...words), { minLength: 1, maxLength: 6 })
  .map((w) => w.join(' '))

// Reactions, quote and thread replies with mentions, pins (issue 11)
const emoji = fc.constantFrom('👍', '🎉', ':tada:', '👨‍👩‍👧', ':+1:')
type MessageFeatureOp =
  | { op: 'react' | 'unreact'; msg: number; member: number; emoji: string }
  | { op: 'pin' | 'unpin'; msg: number; member: number }
  | { op: 'reply'; msg: number; member: number; quote: boolean; thread: boolean; also: boolean }
const messageFeatureOps = [
  {
    weight: 12,
    arbitrary: fc.record({
      op: fc.constantFrom('react' as const, 'unreact' as const),
      msg: fc.nat(),
      member: fc.nat(),
      emoji,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constantFrom('pin' as const, 'unpin' as const),
      msg: fc.nat(),
      member: fc.nat(),
    }),
  },
  {
    weight: 12,
    arbitrary: fc.record({
      op: fc.constant('reply' as const),
      msg: fc.nat(),
      member: fc.nat(),
      quote: fc.boolean(),
      thread: fc.boolean(),
      also: fc.boolean(),
    }),
  },
]

// Roles, moderation and delivery receipts (issue 12): the actor is the group's owner (from the
// read model) or any member, so that most of these are accepted and some refused.
type RolesOp =
  | {
      op: 'moderate'
      kind: 'rename' | 'remove' | 'role'
      byOwner: boolean
      conv: number
      member: number
      target: number
      role: 'owner' | 'admin' | 'member'
      title: string
    }
  | { op: 'deliver'; actor: string; conv: number; msg: number | null }
const rolesOps = [
  {
    weight: 24,
    arbitrary: fc.record({
      op: fc.constant('moderate' as const),
      kind: fc.constantFrom(
        'rename' as const,
        'remove' as const,
        'remove' as const,
        'role' as const,
        'role' as const,
      ),
      byOwner: fc.constantFrom(true, true, true, false),
      conv: fc.nat(),
      member: fc.nat(),
      target: fc.nat(),
      role: fc.constantFrom(
        'owner' as const,
        'admin' as const,
        'admin' as const,
        'member' as const,
      ),
      title: fc.constantFrom('renamed', 'Ünïcode 2', 'y'),
    }),
  },
  {
    weight: 30,
    arbitrary: fc.record({
      op: fc.constant('deliver' as const),
      actor: user,
      conv: fc.nat(),
      msg: fc.option(fc.nat(), { nil: null }),
    }),
  },
]

// Per-user state (issue 12): blocks, mute and archive, presence visibility
type UserStateOp =
  | { op: 'block' | 'unblock'; actor: string; userId: string }
  | {
      op: 'settings'
      member: number
      conv: number
      muted: boolean | null
      untilSeconds: number | null
      archived: boolean | null
    }
  | { op: 'presence'; actor: string; hidden: boolean }
const userStateOps = [
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constantFrom('block' as const, 'block' as const, 'unblock' as const),
      actor: user,
      userId: user,
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant('settings' as const),
      member: fc.nat(),
      conv: fc.nat(),
      muted: fc.option(fc.boolean(), { nil: null }),
      untilSeconds: fc.option(fc.integer({ min: 1, max: 20 }), { nil: null }),
      archived: fc.option(fc.boolean(), { nil: null }),
    }),
  },
  {
    // only `hidden: true` for a user still visible makes a row: at weight 2 (about 4 such ops in
    // 1,200) the history had none in about one run in fifty, and the coverage check below failed
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('presence' as const),
      actor: user,
      hidden: fc.boolean(),
    }),
  },
]

type Op =
  | RolesOp
  | { op: 'direct'; from: string; to: string; text: string }
  | { op: 'group'; creator: string; others: string[]; title: string }
  | { op: 'send'; from: string; member: number; conv: number; text: string }
  | { op: 'edit'; msg: number; text: string; bySender: boolean; actor: string }
  | { op: 'delete'; msg: number; bySender: boolean; actor: string }
  | { op: 'read'; actor: string; conv: number; msg: number | null }
  | { op: 'add'; actor: string; conv: number; userId: string }
  | { op: 'leave'; actor: string; conv: number }
  | { op: 'erase'; userId: string }
  | MessageFeatureOp
  | UserStateOp

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 30, arbitrary: fc.record({ op: fc.constant('direct'), from: user, to: user, text }) },
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant('group'),
      creator: user,
      others: fc.uniqueArray(user, { minLength: 2, maxLength: 4 }),
      title: fc.constantFrom('team', 'Ünïcode', 'x'),
    }),
  },
  {
    weight: 80,
    arbitrary: fc.record({
      op: fc.constant('send'),
      from: user,
      member: fc.nat(),
      conv: fc.nat(),
      text,
    }),
  },
  {
    weight: 20,
    arbitrary: fc.record({
      op: fc.constant('edit'),
      msg: fc.nat(),
      text,
      bySender: fc.boolean(),
      actor: user,
    }),
  },
  {
    weight: 20,
    arbitrary: fc.record({
      op: fc.constant('delete'),
      msg: fc.nat(),
      bySender: fc.boolean(),
      actor: user,
    }),
  },
  {
    weight: 30,
    arbitrary: fc.record({
      op: fc.constant('read'),
      actor: user,
      conv: fc.nat(),
      msg: fc.option(fc.nat(), { nil: null }),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({ op: fc.constant('add'), actor: user, conv: fc.nat(), userId: user }),
  },
  { weight: 10, arbitrary: fc.record({ op: fc.constant('leave'), actor: user, conv: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('erase'), userId: user }) },
  ...messageFeatureOps,
  ...rolesOps,
  ...userStateOps,
)

type World = {
  conversations: { id: string; members: Set<string>; group?: boolean }[]
  messages: { id: string; conversationId: string; senderId: string; threadRootId?: string | null }[]
}

/** A conversation command as `actorId`, at `now` (by default the clock's time, read now). */
const execute = (
  actorId: string,
  command: ConversationCommand,
  now = services.clock().toISOString(),
) => services.execute(command, { actorId, now })

/** A per-user command (blocks, settings) of `userId`, at `now` (by default the clock's time). */
const executeUser = (userId: string, command: UserCommand, now = services.clock()) =>
  executeUserCommand(services.app.userLog, { userId, correlationId: 'rebuild' }, command, now)

async function runOp(world: World, op: Op) {
  const now = services.clock().toISOString()
  const exec = (actorId: string, command: ConversationCommand) => execute(actorId, command, now)
  const pick = <T>(xs: T[], i: number) => (xs.length ? xs[i % xs.length]! : null)
  switch (op.op) {
    case 'direct': {
      const conversationId = directConversationId(op.from, op.to)
      const messageId = newId()
      await exec(op.from, {
        type: 'SendMessage',
        conversationId,
        messageId,
        content: op.text,
        receiverId: op.to,
      })
      if (!world.conversations.some((c) => c.id === conversationId)) {
        world.conversations.push({ id: conversationId, members: new Set([op.from, op.to]) })
      }
      world.messages.push({ id: messageId, conversationId, senderId: op.from })
      return
    }
    case 'group': {
      const conversationId = newId()
      await exec(op.creator, {
        type: 'StartConversation',
        conversationId,
        kind: 'group',
        participantIds: op.others,
        title: op.title,
      })
      world.conversations.push({
        id: conversationId,
        members: new Set([op.creator, ...op.others]),
        group: true,
      })
      return
    }
    case 'send': {
      const conv = pick(world.conversations, op.conv)
      if (!conv) return
      const messageId = newId()
      // mostly a member (a real history); sometimes anyone (a rejected command)
      const from = op.member % 5 === 0 ? op.from : (pick([...conv.members], op.member) ?? op.from)
      await exec(from, {
        type: 'SendMessage',
        conversationId: conv.id,
        messageId,
        content: op.text,
      })
      world.messages.push({ id: messageId, conversationId: conv.id, senderId: from })
      return
    }
    case 'edit':
    case 'delete': {
      const m = pick(world.messages, op.msg)
      if (!m) return
      const actorId = op.bySender ? m.senderId : op.actor
      await exec(
        actorId,
        op.op === 'edit'
          ? {
              type: 'EditMessage',
              conversationId: m.conversationId,
              messageId: m.id,
              content: op.text,
            }
          : { type: 'DeleteMessage', conversationId: m.conversationId, messageId: m.id },
      )
      return
    }
    case 'read': {
      const conv = pick(world.conversations, op.conv)
      if (!conv) return
      const inConv = world.messages.filter((m) => m.conversationId === conv.id)
      const target = op.msg === null ? null : pick(inConv, op.msg)
      await exec(op.actor, {
        type: 'MarkRead',
        conversationId: conv.id,
        upToMessageId: target?.id ?? null,
      })
      return
    }
    case 'add': {
      const conv = pick(world.conversations, op.conv)
      if (!conv) return
      // half of the time by the owner (members may not add)
      const actor = op.userId < op.actor ? ((await ownerOf(conv.id)) ?? op.actor) : op.actor
      await exec(actor, { type: 'AddParticipant', conversationId: conv.id, userId: op.userId })
      conv.members.add(op.userId)
      return
    }
    case 'leave': {
      const conv = pick(world.conversations, op.conv)
      if (!conv) return
      await exec(op.actor, { type: 'LeaveConversation', conversationId: conv.id })
      conv.members.delete(op.actor)
      return
    }
    case 'erase':
      await eraseUserContentForTest(services.db.sql, op.userId, now)
      return
    case 'deliver': {
      const conv = pick(world.conversations, op.conv)
      if (!conv) return
      const inConv = world.messages.filter((m) => m.conversationId === conv.id)
      const target = op.msg === null ? null : pick(inConv, op.msg)
      await exec(op.actor, {
        type: 'MarkDelivered',
        conversationId: conv.id,
        upToMessageId: target?.id ?? null,
      })
      return
    }
    case 'moderate': {
      // in groups (a direct conversation refuses them all alike)
      const conv = pick(
        world.conversations.filter((c) => c.group),
        op.conv,
      )
      if (!conv) return
      const members = [...conv.members]
      const actor = (op.byOwner ? await ownerOf(conv.id) : null) ?? pick(members, op.member)
      const target = pick(members, op.target)
      if (!actor || !target) return
      const conversationId = conv.id
      if (op.kind === 'rename') {
        await exec(actor, { type: 'RenameConversation', conversationId, title: op.title })
      } else if (op.kind === 'remove') {
        await exec(actor, { type: 'RemoveParticipant', conversationId, userId: target })
        conv.members.delete(target)
      } else {
        await exec(actor, {
          type: 'ChangeParticipantRole',
          conversationId,
          userId: target,
          role: op.role,
        })
      }
      return
    }
    case 'block':
    case 'unblock':
    case 'settings':
    case 'presence':
      await runUserStateOp(world, op, pick)
      return
    default:
      await runMessageFeatureOp(world, op, exec, pick)
  }
}

async function ownerOf(conversationId: string): Promise<string | null> {
  const [row] = await services.db.sql<{ user_id: string }[]>`
    select user_id from conversation_members
    where conversation_id = ${conversationId} and role = 'owner' and left_version is null`
  return row?.user_id ?? null
}

async function runUserStateOp(
  world: World,
  op: UserStateOp,
  pick: <T>(xs: T[], i: number) => T | null,
) {
  const now = services.clock()
  const run = (userId: string, command: UserCommand) => executeUser(userId, command, now)
  switch (op.op) {
    case 'block':
      await run(op.actor, { type: 'BlockUser', userId: op.userId })
      return
    case 'unblock':
      await run(op.actor, { type: 'UnblockUser', userId: op.userId })
      return
    case 'presence':
      await run(op.actor, {
        type: 'ChangeUserSettings',
        presence: op.hidden ? 'hidden' : 'visible',
      })
      return
    case 'settings': {
      const conv = pick(world.conversations, op.conv)
      const actor = conv && pick([...conv.members], op.member)
      if (!conv || !actor) return
      await run(actor, {
        type: 'ChangeConversationSettings',
        conversationId: conv.id,
        ...(op.muted === null ? {} : { muted: op.muted }),
        // some mutes end by themselves between messages (the clock moves on with each command)
        ...(op.untilSeconds === null || op.muted === false
          ? {}
          : { mutedUntil: new Date(now.getTime() + op.untilSeconds * 1000).toISOString() }),
        ...(op.archived === null ? {} : { archived: op.archived }),
      })
      return
    }
  }
}

async function runMessageFeatureOp(
  world: World,
  op: MessageFeatureOp,
  exec: (actorId: string, command: ConversationCommand) => Promise<unknown>,
  pick: <T>(xs: T[], i: number) => T | null,
) {
  const m = pick(world.messages, op.msg)
  const conv = m && world.conversations.find((c) => c.id === m.conversationId)
  if (!m || !conv) return
  const actor = pick([...conv.members], op.member) ?? m.senderId
  const target = { conversationId: m.conversationId, messageId: m.id }
  switch (op.op) {
    case 'react':
      await exec(actor, { type: 'AddReaction', ...target, emoji: op.emoji })
      return
    case 'unreact':
      await exec(actor, { type: 'RemoveReaction', ...target, emoji: op.emoji })
      return
    case 'pin':
      await exec(actor, { type: 'PinMessage', ...target })
      return
    case 'unpin':
      await exec(actor, { type: 'UnpinMessage', ...target })
      return
    case 'reply': {
      const root = m.threadRootId ?? m.id
      const refs = await resolveMessageRefs(services.db.sql, {
        replyToMessageId: op.quote || !op.thread ? m.id : null,
        threadRootId: op.thread ? root : null,
      })
      const messageId = newId()
      await exec(actor, {
        type: 'SendMessage',
        conversationId: m.conversationId,
        messageId,
        content: 'a reply',
        ...refs,
        alsoInConversation: op.also,
        mentions: [...conv.members].slice(0, op.member % 3),
      })
      world.messages.push({
        id: messageId,
        conversationId: m.conversationId,
        senderId: actor,
        threadRootId: op.thread ? root : null,
      })
      return
    }
  }
}

// After the random history, one short fixed history that leaves a row of every feature, so that
// the rebuild is compared on each table whatever the random part did: a random history can unpin
// or delete its only pinned message (one run in CI had no pin left). Fresh users, so no block or
// erasure of the random part refuses any of these commands.
async function leaveARowOfEveryFeature(world: World) {
  const conversationId = newId()
  await execute('c0', {
    type: 'StartConversation',
    conversationId,
    kind: 'group',
    participantIds: ['c1', 'c2', 'c3'],
    title: 'every feature',
  })
  world.conversations.push({
    id: conversationId,
    members: new Set(['c0', 'c1', 'c2']),
    group: true,
  })
  const root = newId()
  await execute('c0', { type: 'SendMessage', conversationId, messageId: root, content: 'root' })
  const target = { conversationId, messageId: root }
  await execute('c1', { type: 'AddReaction', ...target, emoji: '🎉' })
  await execute('c2', { type: 'PinMessage', ...target })
  const reply = newId()
  await execute('c1', {
    type: 'SendMessage',
    conversationId,
    messageId: reply,
    content: 'a reply in the thread, quoting its root',
    ...(await resolveMessageRefs(services.db.sql, { replyToMessageId: root, threadRootId: root })),
    alsoInConversation: true,
    mentions: ['c0'],
  })
  world.messages.push(
    { id: root, conversationId, senderId: 'c0' },
    { id: reply, conversationId, senderId: 'c1', threadRootId: root },
  )
  await execute('c0', { type: 'RenameConversation', conversationId, title: 'renamed' })
  await execute('c0', {
    type: 'ChangeParticipantRole',
    conversationId,
    userId: 'c1',
    role: 'admin',
  })
  await execute('c0', { type: 'RemoveParticipant', conversationId, userId: 'c3' })
  await execute('c2', { type: 'MarkDelivered', conversationId, upToMessageId: null })
  await executeUser('c2', {
    type: 'ChangeConversationSettings',
    conversationId,
    muted: true,
    archived: true,
  })
  await executeUser('c1', { type: 'ChangeUserSettings', presence: 'hidden' })
  await executeUser('c2', { type: 'BlockUser', userId: 'c3' })
}

describe('rebuild and verify', () => {
  it('a random history of 1,200 commands rebuilds into exactly the live tables', async () => {
    const world: World = { conversations: [], messages: [] }
    let commands = 0
    let rejected = 0
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 400, maxLength: 400 }), async (ops) => {
        for (const op of ops) {
          commands++
          try {
            await runOp(world, op)
          } catch (error) {
            if (!(error instanceof DomainError)) throw error
            rejected++
          }
        }
        const { differences } = await verifyProjections(services.db.sql)
        expect(differences).toEqual([])
      }),
      { numRuns: 3, endOnFailure: true },
    )
    await leaveARowOfEveryFeature(world)
    expect(commands).toBeGreaterThanOrEqual(1200)
    // most commands were accepted, so the history is a real one
    expect(rejected).toBeLessThan(commands / 2)
    const [counts] = await services.db.sql<{ messages: number; erased: number; deleted: number }[]>`
      select count(*)::int as messages, count(*) filter (where erased)::int as erased,
        count(*) filter (where deleted_at is not null)::int as deleted
      from messages`
    expect(counts!.messages).toBeGreaterThan(300)
    expect(counts!.deleted).toBeGreaterThan(0)
    const [features] = await services.db.sql<Record<string, number>[]>`
      select (select count(*)::int from message_reactions) as reactions,
        (select count(*)::int from message_threads) as threads,
        (select count(*)::int from thread_participants) as thread_participants,
        (select count(*)::int from message_mentions) as mentions,
        (select count(*)::int from message_pins) as pins,
        (select count(*)::int from messages where reply_to_message_id is not null) as quotes,
        (select count(*)::int from user_blocks) as blocks,
        (select count(*)::int from conversation_settings where muted) as muted,
        (select count(*)::int from conversation_settings where archived) as archived,
        (select count(*)::int from user_settings) as user_settings`
    for (const [table, rows] of Object.entries(features!)) expect(rows, table).toBeGreaterThan(0)
    const roleEvents = await services.db.sql<{ type: string; n: number }[]>`
      select type, count(*)::int as n from events
      where type in ('ConversationRenamed', 'ParticipantRemoved', 'ParticipantRoleChanged',
        'MessagesDelivered')
      group by type order by type`
    console.info('issue 12 events', Object.fromEntries(roleEvents.map((r) => [r.type, r.n])))
    expect(roleEvents.map((r) => r.type)).toEqual([
      'ConversationRenamed',
      'MessagesDelivered',
      'ParticipantRemoved',
      'ParticipantRoleChanged',
    ])

    const before = await snapshot()
    // the set-based replay against the inline projections' rows, in many small batches (edits,
    // deletions and erasures of messages of earlier batches) and in one (all in memory)
    const verified = await verifyProjections(services.db.sql, { batchSize: 97 })
    expect(verified.differences).toEqual([])
    const rebuilt = await rebuildProjections(services.db.sql, { batchSize: 97 })
    expect(rebuilt.events).toBeGreaterThan(commands / 2)
    expect(await snapshot()).toEqual(before)
    await rebuildProjections(services.db.sql, { batchSize: 100_000 })
    expect(await snapshot()).toEqual(before)
    // the full-text index took a pending list for the bulk load only
    const [index] = await services.db.sql<{ options: string[] }[]>`
      select reloptions as options from pg_class
      where relname = 'messages_search' and relnamespace = current_schema()::regnamespace`
    expect(index?.options).toContain('fastupdate=off')
  }, 180_000) // 1,200 commands and three replays: more than 60 s on a busy machine

  it('finds exactly a hand-changed, a deleted and an added row, and a rebuild repairs them', async () => {
    const sql = services.db.sql
    const [member] = await sql<{ conversation_id: string; user_id: string }[]>`
      select conversation_id, user_id from conversation_members order by 1, 2 limit 1`
    await sql`
      update conversation_members set unread_count = unread_count + 5
      where conversation_id = ${member!.conversation_id} and user_id = ${member!.user_id}`
    let result = await verifyProjections(sql)
    expect(result.differences).toEqual([
      expect.objectContaining({
        table: 'conversation_members',
        kind: 'changed',
        key: { conversation_id: member!.conversation_id, user_id: member!.user_id },
        columns: ['unread_count'],
      }),
    ])
    const d = result.differences[0]!
    expect(Number(d.live!.unread_count) - Number(d.rebuilt!.unread_count)).toBe(5)

    const [message] = await sql<{ conversation_id: string; version: number }[]>`
      select conversation_id, version from messages order by 1, 2 limit 1`
    await sql`delete from messages where conversation_id = ${message!.conversation_id} and version = ${message!.version}`
    await sql`
      insert into conversations (conversation_id, kind, title, created_by, created_at)
      values ('ghost', 'group', 'ghost', 'nobody', now())`
    result = await verifyProjections(sql)
    expect(result.differences.map((x) => [x.table, x.kind, x.key])).toEqual([
      [
        'conversation_members',
        'changed',
        { conversation_id: member!.conversation_id, user_id: member!.user_id },
      ],
      ['conversations', 'unexpected', { conversation_id: 'ghost' }],
      [
        'messages',
        'missing',
        { conversation_id: message!.conversation_id, version: message!.version },
      ],
    ])

    await rebuildProjections(sql)
    expect((await verifyProjections(sql)).differences).toEqual([])
  })

  it('erased content leaves messages, previews and search, live and after a rebuild', async () => {
    const sql = services.db.sql
    const conversationId = directConversationId('eve', 'frank')
    const m1 = newId()
    const m2 = newId()
    await execute('eve', {
      type: 'SendMessage',
      conversationId,
      messageId: m1,
      content: 'secretword one',
      receiverId: 'frank',
    })
    await execute('eve', {
      type: 'SendMessage',
      conversationId,
      messageId: m2,
      content: 'secretword two',
      attachments: [{ url: 'https://x.test/a.png', name: 'a.png', mimeType: 'image/png', size: 3 }],
    })
    await execute('eve', {
      type: 'EditMessage',
      conversationId,
      messageId: m2,
      content: 'secretword edited',
    })
    const found = await searchMessages(sql, { userId: 'frank', query: 'secretword', limit: 10 })
    expect(found.items).toHaveLength(2)

    await eraseUserContentForTest(sql, 'eve', services.clock().toISOString())
    const check = async () => {
      expect(await getMessageView(sql, m2)).toMatchObject({
        content: null,
        attachments: [],
        deletedAt: null,
      })
      const after = await searchMessages(sql, { userId: 'frank', query: 'secretword', limit: 10 })
      expect(after.items).toEqual([])
      const view = await getConversationView(sql, conversationId, 'frank')
      expect(view!.lastMessage).toMatchObject({ id: m2, preview: null, deleted: false })
      expect(await getMessageView(sql, m1)).toMatchObject({ content: null, attachments: [] })
    }
    await check()
    expect((await verifyProjections(sql)).differences).toEqual([])
    await rebuildProjections(sql)
    await check()
  })

  it('a rebuild while messages are sent misses none of them', async () => {
    const sql = services.db.sql
    // eight conversations, five messages each, sent one after another per conversation
    const chains = Array.from({ length: 8 }, async (_, c) => {
      for (let i = 0; i < 5; i++) {
        await services.execute(
          {
            type: 'SendMessage',
            conversationId: directConversationId(`p${c}`, 'q'),
            messageId: newId(),
            content: `concurrent ${i}`,
            receiverId: 'q',
          },
          { actorId: `p${c}`, now: services.clock().toISOString() },
        )
      }
    })
    const rebuilds = [rebuildProjections(sql), rebuildProjections(sql)]
    await Promise.all([...chains, ...rebuilds])
    expect((await verifyProjections(sql)).differences).toEqual([])
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from messages where sender_id like 'p%' and content like 'concurrent%'`
    expect(row!.n).toBe(40)
  })
})

describe('verify while the log grows', () => {
  it('compares one consistent snapshot; on PostgreSQL an append during it is not held up', async () => {
    const sql = services.db.sql
    const conversationId = directConversationId('v1', 'v2')
    const sendOne = (i: number) =>
      services.execute(
        {
          type: 'SendMessage',
          conversationId,
          messageId: newId(),
          content: `during verify ${i}`,
          receiverId: 'v2',
        },
        { actorId: 'v1', now: services.clock().toISOString() },
      )
    await sendOne(0)
    let during: Promise<unknown> | null = null
    const result = await verifyProjections(sql, {
      batchSize: 50,
      onProgress: async () => {
        if (during) return
        during = sendOne(1)
        // On PostgreSQL the verification holds no lock and no transaction id: the append
        // completes while it runs. With one connection (embedded) it waits for the end.
        if (usingPostgres) await during
      },
    })
    await during
    expect(result.differences).toEqual([])
    expect((await verifyProjections(sql)).differences).toEqual([])
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from messages where conversation_id = ${conversationId}`
    expect(row!.n).toBe(2)
    const [left] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_namespace where nspname like 'verify\_%'`
    expect(left!.n).toBe(0)
  })
})

async function snapshot() {
  const sql = services.db.sql
  return {
    members: await sql`select * from conversation_members order by conversation_id, user_id`,
    conversations: await sql`select * from conversations order by conversation_id`,
    messages: await sql`select * from messages order by conversation_id, version`,
    reactions: await sql`select * from message_reactions order by 1, 2, 3, 4`,
    threads: await sql`select * from message_threads order by 1, 2`,
    threadParticipants: await sql`select * from thread_participants order by 1, 2, 3`,
    mentions: await sql`select * from message_mentions order by 1, 2, 3`,
    pins: await sql`select * from message_pins order by 1, 2`,
    blocks: await sql`select * from user_blocks order by 1, 2`,
    conversationSettings: await sql`select * from conversation_settings order by 1, 2`,
    userSettings: await sql`select * from user_settings order by 1`,
  }
}

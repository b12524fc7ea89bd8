import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBlockers } from '../src/application/batch-decision-state.ts'
import { blockUser } from '../src/application/user-settings.ts'
import { directConversationId, newId } from '../src/domain/conversation-id.ts'
import type { Services } from '../src/services.ts'
import { createChatServices } from './support/chat-services.ts'

// Which users block the actor of a command, as deciding asks it for every message and every
// direct start (src/application/batch-decision-state.ts): the other member of the command's
// direct conversation, read from that conversation's snapshot, and the receiver it names,
// read from the receivers' user streams. Groups ask only the receiver a command names.

let services: Services
beforeAll(async () => {
  services = await createChatServices()
})
afterAll(async () => {
  await services?.db.close()
})

const caller = (userId: string) => ({ userId, correlationId: newId() })

async function message(from: string, conversationId: string, receiverId?: string) {
  await services.execute(
    {
      type: 'SendMessage',
      conversationId,
      messageId: newId(),
      content: 'hello',
      ...(receiverId ? { receiverId } : {}),
    },
    { actorId: from, now: new Date().toISOString() },
  )
}

async function blockers(
  questions: { actorId: string; conversationId: string; receiverId: string | null }[],
) {
  const rows = await loadBlockers(services.db.sql, questions)
  return rows.map((r) => `${r.actor_id} blocked by ${r.blocker_id}`).sort()
}

describe('the block lookup of a batch', () => {
  it('finds the blocker among the members of a direct conversation, the receiver, or neither', async () => {
    const [ann, ben, cat, dan, eve] = ['bl-ann', 'bl-ben', 'bl-cat', 'bl-dan', 'bl-eve']
    const annBen = directConversationId(ann, ben)
    const annCat = directConversationId(ann, cat)
    await message(ann, annBen, ben)
    await message(ann, annCat, cat)
    const group = newId()
    await services.execute(
      {
        type: 'StartConversation',
        conversationId: group,
        kind: 'group',
        participantIds: [ben, cat, dan],
        title: 'g',
      },
      { actorId: ann, now: new Date().toISOString() },
    )
    // ben blocks ann; cat blocks dan (who has no conversation with cat yet); eve blocks nobody
    await blockUser(services.app, caller(ben), ann)
    await blockUser(services.app, caller(cat), dan)

    const none: string[] = []
    const cases: [
      string,
      { actorId: string; conversationId: string; receiverId: string | null },
      string[],
    ][] = [
      [
        'the members come from the snapshot',
        { actorId: ann, conversationId: annBen, receiverId: null },
        [`${ann} blocked by ${ben}`],
      ],
      [
        "the blocker's own command",
        { actorId: ben, conversationId: annBen, receiverId: null },
        none,
      ],
      [
        'the other member blocks nobody',
        { actorId: ann, conversationId: annCat, receiverId: null },
        none,
      ],
      [
        'a first message asks the receiver',
        { actorId: dan, conversationId: directConversationId(dan, cat), receiverId: cat },
        [`${dan} blocked by ${cat}`],
      ],
      ['a group: not its members', { actorId: ann, conversationId: group, receiverId: null }, none],
      [
        'a group: the receiver named',
        { actorId: dan, conversationId: group, receiverId: cat },
        [`${dan} blocked by ${cat}`],
      ],
      [
        'a receiver without a user stream',
        {
          actorId: eve,
          conversationId: directConversationId(eve, 'bl-nobody'),
          receiverId: 'bl-nobody',
        },
        none,
      ],
      [
        'the member named as receiver too',
        { actorId: ann, conversationId: annBen, receiverId: ben },
        [`${ann} blocked by ${ben}`],
      ],
      ['oneself as the receiver', { actorId: ben, conversationId: annBen, receiverId: ben }, none],
    ]
    for (const [name, question, expected] of cases) {
      expect(await blockers([question]), name).toEqual(expected)
    }
    // all at once, as a batch asks (one answer per actor and blocker)
    expect(await blockers([...cases.map(([, q]) => q), cases[0]![1]])).toEqual([
      `${ann} blocked by ${ben}`,
      `${dan} blocked by ${cat}`,
    ])
  })

  it('refuses the blocked sender and lets the blocker write, through the batcher', async () => {
    const [fay, gus] = ['bl-fay', 'bl-gus']
    const conversation = directConversationId(fay, gus)
    await message(fay, conversation, gus)
    await blockUser(services.app, caller(gus), fay)
    await expect(message(fay, conversation)).rejects.toMatchObject({ code: 'blocked' })
    await expect(message(fay, conversation, gus)).rejects.toMatchObject({ code: 'blocked' })
    await message(gus, conversation)
  })
})

import { describe, expect, it } from 'vitest'
import type {
  AddParticipant,
  ChangeParticipantRole,
  DeleteMessage,
  LeaveConversation,
  RemoveParticipant,
  RenameConversation,
} from '../../src/domain/commands.ts'
import { evolve } from '../../src/domain/conversation.ts'
import type { EventOf } from '../../src/domain/events.ts'
import { roleOf } from '../../src/domain/roles.ts'
import type { Role } from '../../src/domain/roles-events.ts'
import {
  ALICE,
  added,
  BOB,
  CAROL,
  DAVE,
  DIRECT,
  directStarted,
  ERIN,
  GROUP,
  given,
  groupStarted,
  left,
  NOW,
  sent,
  stateOf,
} from './decider-spec.ts'

// Roles and moderation (issue 12). The group of decider-spec is started by ALICE (owner) with
// BOB and CAROL (members).

const rename = (title: string, conversationId = GROUP): RenameConversation => ({
  type: 'RenameConversation',
  conversationId,
  title,
})
const remove = (userId: string, conversationId = GROUP): RemoveParticipant => ({
  type: 'RemoveParticipant',
  conversationId,
  userId,
})
const setRole = (userId: string, role: Role, conversationId = GROUP): ChangeParticipantRole => ({
  type: 'ChangeParticipantRole',
  conversationId,
  userId,
  role,
})
const add = (userId: string): AddParticipant => ({
  type: 'AddParticipant',
  conversationId: GROUP,
  userId,
})
const leave: LeaveConversation = { type: 'LeaveConversation', conversationId: GROUP }
const del = (messageId: string): DeleteMessage => ({
  type: 'DeleteMessage',
  conversationId: GROUP,
  messageId,
})

const roleChanged = (
  userId: string,
  role: Role,
  changedBy = ALICE,
  changedAt = NOW,
): EventOf<'ParticipantRoleChanged'> => ({
  type: 'ParticipantRoleChanged',
  data: { conversationId: GROUP, userId, role, changedBy, changedAt },
})
const removed = (userId: string, removedBy = ALICE): EventOf<'ParticipantRemoved'> => ({
  type: 'ParticipantRemoved',
  data: { conversationId: GROUP, userId, removedBy, removedAt: NOW },
})
const renamed = (title: string, renamedBy = ALICE): EventOf<'ConversationRenamed'> => ({
  type: 'ConversationRenamed',
  data: { conversationId: GROUP, title, renamedBy, renamedAt: NOW },
})
const inGroup = (id: string, sender = ALICE) => sent(id, sender, { conversationId: GROUP })

describe('roles', () => {
  it('makes the creator of a group its owner and everyone else a member', () => {
    const state = stateOf([groupStarted(), added(DAVE)], GROUP)!
    expect(state.roles).toEqual({
      [ALICE]: 'owner',
      [BOB]: 'member',
      [CAROL]: 'member',
      [DAVE]: 'member',
    })
  })

  it('reads snapshots from before roles: the creator owns it, the others are members', () => {
    const { roles: _none, ...old } = stateOf([groupStarted()], GROUP)!
    expect(roleOf(old, ALICE)).toBe('owner')
    expect(roleOf(old, BOB)).toBe('member')
    // and deciding on such a snapshot works as on a new one
    const next = evolve(old, roleChanged(BOB, 'admin'))
    expect(next.roles).toEqual({ [ALICE]: 'owner', [BOB]: 'admin', [CAROL]: 'member' })
  })
})

describe('RenameConversation', () => {
  it('lets the owner and admins rename, trimmed', () => {
    given(groupStarted())
      .when(rename('  Plans '), { actorId: ALICE })
      .thenEmits([renamed('Plans')])
    given(groupStarted(), roleChanged(BOB, 'admin'))
      .when(rename('Plans'), { actorId: BOB })
      .thenEmits([renamed('Plans', BOB)])
  })

  it('refuses members (forbidden) and outsiders (not a participant)', () => {
    given(groupStarted()).when(rename('Plans'), { actorId: BOB }).thenFails('forbidden')
    given(groupStarted()).when(rename('Plans'), { actorId: DAVE }).thenFails('not_participant')
    given(groupStarted(), removed(BOB))
      .when(rename('Plans'), { actorId: BOB })
      .thenFails('not_participant')
  })

  it('refuses an empty or too long title, and direct conversations', () => {
    given(groupStarted()).when(rename('  '), { actorId: ALICE }).thenFails('invalid_command')
    given(groupStarted())
      .when(rename('x'.repeat(101)), { actorId: ALICE })
      .thenFails('invalid_command')
    given(directStarted())
      .when(rename('Us', DIRECT), { actorId: ALICE })
      .thenFails('invalid_command', /group/)
  })

  it('decides nothing for the same title, and the state keeps the new one', () => {
    given(groupStarted()).when(rename('Team'), { actorId: ALICE }).thenNothing()
    expect(stateOf([groupStarted(), renamed('Plans')], GROUP)!.title).toBe('Plans')
  })
})

describe('AddParticipant with roles', () => {
  it('lets admins add, not members', () => {
    given(groupStarted(), roleChanged(BOB, 'admin'))
      .when(add(DAVE), { actorId: BOB })
      .thenEmits([
        {
          type: 'ParticipantAdded',
          data: { conversationId: GROUP, userId: DAVE, addedBy: BOB, addedAt: NOW },
        },
      ])
    given(groupStarted()).when(add(DAVE), { actorId: CAROL }).thenFails('forbidden')
  })
})

describe('RemoveParticipant', () => {
  it('lets the owner remove a member or an admin', () => {
    given(groupStarted())
      .when(remove(BOB), { actorId: ALICE })
      .thenEmits([removed(BOB)])
    given(groupStarted(), roleChanged(BOB, 'admin'))
      .when(remove(BOB), { actorId: ALICE })
      .thenEmits([removed(BOB)])
  })

  it('lets an admin remove members only', () => {
    const history = [groupStarted([ALICE, BOB, CAROL, DAVE]), roleChanged(BOB, 'admin')]
    given(...history)
      .when(remove(CAROL), { actorId: BOB })
      .thenEmits([removed(CAROL, BOB)])
    given(...history, roleChanged(CAROL, 'admin'))
      .when(remove(CAROL), { actorId: BOB })
      .thenFails('forbidden')
    given(...history)
      .when(remove(ALICE), { actorId: BOB })
      .thenFails('forbidden')
  })

  it('refuses members (forbidden) and outsiders (not a participant)', () => {
    given(groupStarted()).when(remove(CAROL), { actorId: BOB }).thenFails('forbidden')
    given(groupStarted()).when(remove(CAROL), { actorId: DAVE }).thenFails('not_participant')
  })

  it('decides nothing for someone not in the group; yourself is leaving', () => {
    given(groupStarted()).when(remove(DAVE), { actorId: ALICE }).thenNothing()
    given(groupStarted(), left(BOB)).when(remove(BOB), { actorId: ALICE }).thenNothing()
    given(groupStarted()).when(remove(ALICE), { actorId: ALICE }).thenFails('invalid_command')
  })

  it('takes the removed member out: they no longer send, a re-add makes them a member', () => {
    given(groupStarted(), removed(BOB))
      .when(
        { type: 'SendMessage', conversationId: GROUP, messageId: 'x', content: 'hi' },
        { actorId: BOB },
      )
      .thenFails('not_participant')
    const state = stateOf(
      [groupStarted(), roleChanged(BOB, 'admin'), removed(BOB), added(BOB)],
      GROUP,
    )!
    expect(state.participants[BOB]).toEqual({ joinedVersion: 4, leftVersion: null })
    expect(state.roles![BOB]).toBe('member')
  })
})

describe('ChangeParticipantRole', () => {
  it('lets the owner promote and demote', () => {
    given(groupStarted())
      .when(setRole(BOB, 'admin'), { actorId: ALICE })
      .thenEmits([roleChanged(BOB, 'admin')])
    given(groupStarted(), roleChanged(BOB, 'admin'))
      .when(setRole(BOB, 'member'), { actorId: ALICE })
      .thenEmits([roleChanged(BOB, 'member')])
  })

  it('hands ownership over: the former owner becomes an admin', () => {
    given(groupStarted())
      .when(setRole(CAROL, 'owner'), { actorId: ALICE })
      .thenEmits([roleChanged(CAROL, 'owner'), roleChanged(ALICE, 'admin')])
  })

  it('refuses admins and members (forbidden), outsiders (not a participant)', () => {
    given(groupStarted(), roleChanged(BOB, 'admin'))
      .when(setRole(CAROL, 'admin'), { actorId: BOB })
      .thenFails('forbidden')
    given(groupStarted()).when(setRole(CAROL, 'admin'), { actorId: BOB }).thenFails('forbidden')
    given(groupStarted())
      .when(setRole(CAROL, 'admin'), { actorId: DAVE })
      .thenFails('not_participant')
  })

  it('refuses the owner changing their own role, a non-participant, direct conversations', () => {
    given(groupStarted())
      .when(setRole(ALICE, 'member'), { actorId: ALICE })
      .thenFails('invalid_command')
    given(groupStarted())
      .when(setRole(DAVE, 'admin'), { actorId: ALICE })
      .thenFails('invalid_command')
    given(directStarted())
      .when(setRole(BOB, 'admin', DIRECT), { actorId: ALICE })
      .thenFails('invalid_command')
  })

  it('decides nothing when the role is already that', () => {
    given(groupStarted()).when(setRole(BOB, 'member'), { actorId: ALICE }).thenNothing()
  })
})

describe('ownership when the owner leaves', () => {
  const leftEvent = (userId: string): EventOf<'ParticipantLeft'> => ({
    type: 'ParticipantLeft',
    data: { conversationId: GROUP, userId, leftAt: NOW },
  })

  it('passes to the longest-standing admin', () => {
    given(
      groupStarted([ALICE, BOB, CAROL]),
      added(DAVE),
      roleChanged(DAVE, 'admin'),
      added(ERIN),
      roleChanged(ERIN, 'admin'),
    )
      .when(leave, { actorId: ALICE })
      .thenEmits([leftEvent(ALICE), roleChanged(DAVE, 'owner', ALICE)])
  })

  it('else to the longest-standing member (joined first, then by id)', () => {
    given(groupStarted([ALICE, CAROL, BOB]))
      .when(leave, { actorId: ALICE })
      .thenEmits([leftEvent(ALICE), roleChanged(BOB, 'owner', ALICE)])
    given(groupStarted([ALICE, BOB, CAROL]), left(BOB), added(BOB))
      .when(leave, { actorId: ALICE })
      .thenEmits([leftEvent(ALICE), roleChanged(CAROL, 'owner', ALICE)])
  })

  it('does not change when someone else leaves, nor when the owner is the last one', () => {
    given(groupStarted())
      .when(leave, { actorId: BOB })
      .thenEmits([leftEvent(BOB)])
    given(groupStarted(), left(BOB), left(CAROL))
      .when(leave, { actorId: ALICE })
      .thenEmits([leftEvent(ALICE)])
  })

  it('lets the new owner act as owner', () => {
    given(groupStarted(), leftEvent(ALICE), roleChanged(BOB, 'owner', ALICE))
      .when(setRole(CAROL, 'admin'), { actorId: BOB })
      .thenEmits([roleChanged(CAROL, 'admin', BOB)])
  })
})

describe("DeleteMessage of someone else's message", () => {
  it('is allowed to the owner and admins of a group', () => {
    const deletedBy = (by: string): EventOf<'MessageDeleted'> => ({
      type: 'MessageDeleted',
      data: { conversationId: GROUP, messageId: 'g1', deletedBy: by, deletedAt: NOW },
    })
    given(groupStarted(), inGroup('g1', BOB))
      .when(del('g1'), { actorId: ALICE })
      .thenEmits([deletedBy(ALICE)])
    given(groupStarted(), roleChanged(CAROL, 'admin'), inGroup('g1', BOB))
      .when(del('g1'), { actorId: CAROL })
      .thenEmits([deletedBy(CAROL)])
  })

  it('is refused to members', () => {
    given(groupStarted(), inGroup('g1', BOB))
      .when(del('g1'), { actorId: CAROL })
      .thenFails('not_sender')
  })
})

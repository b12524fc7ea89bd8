import type { ChangeParticipantRole, RemoveParticipant, RenameConversation } from './commands.ts'
import { DomainError, invalidCommand } from './errors.ts'
import type { ConversationEvent } from './events.ts'
import type { Role } from './roles-events.ts'

// Roles and moderation of groups (issue 12): who may rename, add, remove, delete others'
// messages and change roles; ownership passing when the owner leaves. Pure, like the decider.

export const MAX_TITLE_LENGTH = 100

/** What these rules read of the conversation's decision state. */
export type RoleState = {
  conversationId: string
  kind: 'direct' | 'group'
  createdBy: string
  participants: Record<string, { joinedVersion: number; leftVersion: number | null }>
  /** Roles of the current participants (absent in snapshots from before roles: derived). */
  roles?: Record<string, Role>
}

export const forbidden = (message: string) => new DomainError('forbidden', message)

/**
 * The role of a current participant. Snapshots from before roles have none stored: the creator
 * (if in since the start, version 1) is the owner, everyone else a member.
 */
export function roleOf(state: RoleState, userId: string): Role {
  if (state.roles) return state.roles[userId] ?? 'member'
  const p = state.participants[userId]
  return state.kind === 'group' && userId === state.createdBy && p?.joinedVersion === 1
    ? 'owner'
    : 'member'
}

/** The roles of the current participants, stored or derived. */
export function rolesOf(state: RoleState): Record<string, Role> {
  if (state.roles) return state.roles
  return Object.fromEntries(
    Object.entries(state.participants)
      .filter(([, p]) => p.leftVersion === null)
      .map(([id]) => [id, roleOf(state, id)]),
  )
}

/** The roles a conversation starts with: a group's creator owns it. */
export function initialRoles(
  kind: 'direct' | 'group',
  createdBy: string,
  participantIds: string[],
): Record<string, Role> {
  return Object.fromEntries(
    participantIds.map((id) => [id, kind === 'group' && id === createdBy ? 'owner' : 'member']),
  )
}

export const isModerator = (state: RoleState, userId: string) =>
  state.kind === 'group' && roleOf(state, userId) !== 'member'

function requireGroup(state: RoleState, what: string) {
  if (state.kind !== 'group') throw invalidCommand(`${what} only in group conversations`)
}

function requireModerator(state: RoleState, actorId: string, what: string) {
  if (!isModerator(state, actorId)) throw forbidden(`Only the owner and admins may ${what}`)
}

const isCurrent = (state: RoleState, userId: string) =>
  state.participants[userId]?.leftVersion === null

/** Adding someone to a group: owners and admins only. */
export function checkMayAdd(state: RoleState, actorId: string): void {
  requireGroup(state, 'participants can be added')
  requireModerator(state, actorId, 'add participants')
}

/** Deleting someone else's message: owners and admins of a group. */
export const mayDeleteOthers = (state: RoleState, actorId: string) => isModerator(state, actorId)

export function decideRename(
  command: RenameConversation,
  state: RoleState & { title: string | null },
  { actorId, now }: { actorId: string; now: string },
): ConversationEvent[] {
  requireGroup(state, 'a title exists')
  requireModerator(state, actorId, 'rename the conversation')
  const title = (command.title ?? '').trim()
  if (title.length < 1 || title.length > MAX_TITLE_LENGTH) {
    throw invalidCommand(`a group title has 1 to ${MAX_TITLE_LENGTH} characters`, {
      field: 'title',
    })
  }
  if (title === state.title) return []
  return [
    {
      type: 'ConversationRenamed',
      data: { conversationId: state.conversationId, title, renamedBy: actorId, renamedAt: now },
    },
  ]
}

/** The owner removes anyone else; an admin removes members; a member nobody. */
export function decideRemove(
  command: RemoveParticipant,
  state: RoleState,
  { actorId, now }: { actorId: string; now: string },
): ConversationEvent[] {
  requireGroup(state, 'participants can be removed')
  requireModerator(state, actorId, 'remove participants')
  const userId = command.userId
  if (userId === actorId)
    throw invalidCommand('leave the conversation instead of removing yourself')
  if (!isCurrent(state, userId)) return []
  const actorRole = roleOf(state, actorId)
  if (actorRole !== 'owner' && roleOf(state, userId) !== 'member') {
    throw forbidden('Only the owner may remove an admin or the owner')
  }
  return [
    {
      type: 'ParticipantRemoved',
      data: { conversationId: state.conversationId, userId, removedBy: actorId, removedAt: now },
    },
  ]
}

/**
 * Only the owner changes roles: `admin` or `member`, or `owner` to hand ownership over (the
 * former owner becomes an admin).
 */
export function decideRoleChange(
  command: ChangeParticipantRole,
  state: RoleState,
  { actorId, now }: { actorId: string; now: string },
): ConversationEvent[] {
  requireGroup(state, 'roles exist')
  if (roleOf(state, actorId) !== 'owner') throw forbidden('Only the owner may change roles')
  const { userId, role } = command
  if (userId === actorId) {
    throw invalidCommand(
      'the owner hands ownership over by giving another participant the owner role',
    )
  }
  if (!isCurrent(state, userId)) {
    throw invalidCommand('the user is not a participant', { field: 'userId' })
  }
  if (roleOf(state, userId) === role) return []
  const changed = (id: string, r: Role): ConversationEvent => ({
    type: 'ParticipantRoleChanged',
    data: {
      conversationId: state.conversationId,
      userId: id,
      role: r,
      changedBy: actorId,
      changedAt: now,
    },
  })
  if (role === 'owner') return [changed(userId, 'owner'), changed(actorId, 'admin')]
  return [changed(userId, role)]
}

/**
 * What follows the owner leaving: the longest-standing admin becomes the owner, else the
 * longest-standing member (none when nobody is left).
 */
export function ownershipAfterLeaving(
  state: RoleState,
  leaverId: string,
  now: string,
): ConversationEvent[] {
  if (state.kind !== 'group' || roleOf(state, leaverId) !== 'owner') return []
  const others = Object.entries(state.participants)
    .filter(([id, p]) => id !== leaverId && p.leftVersion === null)
    .sort(([a, pa], [b, pb]) => pa.joinedVersion - pb.joinedVersion || (a < b ? -1 : a > b ? 1 : 0))
  const next = others.find(([id]) => roleOf(state, id) === 'admin') ?? others[0]
  if (!next) return []
  return [
    {
      type: 'ParticipantRoleChanged',
      data: {
        conversationId: state.conversationId,
        userId: next[0],
        role: 'owner',
        changedBy: leaverId,
        changedAt: now,
      },
    },
  ]
}

/** The roles after an event (only membership and role events change them). */
export function evolveRoles(state: RoleState, event: ConversationEvent): Record<string, Role> {
  const roles = rolesOf(state)
  switch (event.type) {
    case 'ParticipantAdded':
      return { ...roles, [event.data.userId]: 'member' }
    case 'ParticipantLeft':
    case 'ParticipantRemoved': {
      const { [event.data.userId]: _gone, ...rest } = roles
      return rest
    }
    case 'ParticipantRoleChanged':
      return { ...roles, [event.data.userId]: event.data.role }
    default:
      return roles
  }
}

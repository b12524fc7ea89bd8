// Over 300 lines on purpose: the decider of one aggregate, `decide` and `evolve` with their
// exhaustive switches, read together (a new command or event touches both).
import type { CommandContext, ConversationCommand } from './commands.ts'
import { directConversationId } from './conversation-id.ts'
import {
  blocked,
  conversationNotFound,
  DomainError,
  invalidCommand,
  messageNotFound,
  notParticipant,
  notSender,
} from './errors.ts'
import type { ConversationEvent } from './events.ts'
import { normalizeBody, normalizeEditedContent } from './message-body.ts'
import { decideLinks, decideMentions } from './message-links.ts'
import { decidePin, evolvePins } from './pins.ts'
import { decideReaction, evolveReactions, type Reactions } from './reactions.ts'
import {
  checkMayAdd,
  decideRemove,
  decideRename,
  decideRoleChange,
  evolveRoles,
  initialRoles,
  MAX_TITLE_LENGTH,
  mayDeleteOthers,
  ownershipAfterLeaving,
} from './roles.ts'
import type { Role } from './roles-events.ts'
import { isUserStreamId } from './user-events.ts'

export const MIN_GROUP_SIZE = 3
export const MAX_GROUP_SIZE = 100
export { MAX_TITLE_LENGTH }
export const MAX_CLIENT_MESSAGE_ID_LENGTH = 64

export type Participation = { joinedVersion: number; leftVersion: number | null }

export type Marker = { version: number; messageId: string }

/**
 * The decision state of one conversation: small and independent of its length, stored with the
 * stream so that deciding never replays the whole history.
 */
export type ConversationState = {
  conversationId: string
  kind: 'direct' | 'group'
  title: string | null
  createdBy: string
  participants: Record<string, Participation>
  readMarkers: Record<string, Marker>
  lastMessage: { messageId: string; version: number } | null
  version: number
  /** Pinned message ids, newest first (absent in snapshots from before pins). */
  pins?: string[]
  /**
   * Roles of the current participants (absent in snapshots from before roles: the creator is
   * the owner, the others members; see `roleOf`).
   */
  roles?: Record<string, Role>
  /** Delivered markers (absent in snapshots from before receipts: none). */
  deliveredMarkers?: Record<string, Marker>
}

/** What deciding about one message needs to know about it. */
export type MessageFacts = {
  messageId: string
  conversationId: string
  senderId: string
  version: number
  hasAttachments: boolean
  deleted: boolean
  /** Who reacted with what (absent: none). */
  reactions?: Reactions
  /** The thread the message replies in (absent or null: a top-level message). */
  threadRootId?: string | null
}

export type DecisionState = {
  conversation: ConversationState | null
  message: MessageFacts | null
  /**
   * Users who block the actor, among those the command concerns (the other member of a direct
   * conversation, a direct conversation's receiver); loaded with the rest of the state.
   */
  blockedBy?: ReadonlySet<string>
}

export const initialState = (): DecisionState => ({ conversation: null, message: null })

/**
 * The user on the other side of a direct conversation the actor writes to or starts (the ones
 * whose blocks the command must respect); none for a group or another command.
 */
export function directCounterpart(
  command: ConversationCommand,
  conv: ConversationState | null,
  actorId: string,
): string | null {
  if (command.type === 'SendMessage') {
    if (conv) {
      if (conv.kind !== 'direct') return null
      return Object.keys(conv.participants).find((id) => id !== actorId) ?? null
    }
    return command.receiverId && command.receiverId !== actorId ? command.receiverId : null
  }
  if (command.type === 'StartConversation' && command.kind === 'direct') {
    return command.participantIds.find((id) => id !== actorId) ?? null
  }
  return null
}

function refuseBlocked(command: ConversationCommand, state: DecisionState, actorId: string): void {
  if (!state.blockedBy?.size) return
  // an outsider is answered as if the conversation did not exist (by the checks that follow)
  if (state.conversation && !isCurrentParticipant(state.conversation, actorId)) return
  const other = directCounterpart(command, state.conversation, actorId)
  if (other !== null && state.blockedBy.has(other)) throw blocked()
}

export function isCurrentParticipant(state: ConversationState | null, userId: string): boolean {
  return state?.participants[userId]?.leftVersion === null
}

export function currentParticipants(state: ConversationState): string[] {
  return Object.entries(state.participants)
    .filter(([, p]) => p.leftVersion === null)
    .map(([id]) => id)
}

/** Decides which events a command produces; throws a DomainError when it is rejected. */
export function decide(
  command: ConversationCommand,
  state: DecisionState,
  ctx: CommandContext,
): ConversationEvent[] {
  const { actorId, now } = ctx
  // a user's stream is never a conversation (its id is not one a conversation can have)
  if (isUserStreamId(command.conversationId)) throw conversationNotFound()
  const conv = state.conversation
  refuseBlocked(command, state, actorId)
  switch (command.type) {
    case 'StartConversation':
      return startConversation(command, conv, ctx)

    case 'SendMessage': {
      const events: ConversationEvent[] = []
      if (!conv) {
        if (!command.receiverId) throw conversationNotFound()
        events.push(
          ...startConversation(
            {
              type: 'StartConversation',
              conversationId: command.conversationId,
              kind: 'direct',
              participantIds: [command.receiverId],
            },
            null,
            ctx,
          ),
        )
      } else if (!isCurrentParticipant(conv, actorId)) {
        throw notParticipant()
      }
      const attachments = command.attachments ?? []
      const content = normalizeBody(command.content, attachments)
      const clientMessageId = command.clientMessageId ?? null
      if (
        clientMessageId !== null &&
        (clientMessageId.length < 1 || clientMessageId.length > MAX_CLIENT_MESSAGE_ID_LENGTH)
      ) {
        throw invalidCommand(
          `clientMessageId has 1 to ${MAX_CLIENT_MESSAGE_ID_LENGTH} characters`,
          { field: 'clientMessageId' },
        )
      }
      const links = decideLinks(command, {
        conversationId: command.conversationId,
        participants: conv ? currentParticipants(conv) : [actorId, command.receiverId!],
        joinedVersion: conv?.participants[actorId]?.joinedVersion ?? 0,
      })
      events.push({
        type: 'MessageSent',
        data: {
          conversationId: command.conversationId,
          messageId: command.messageId,
          senderId: actorId,
          content,
          attachments,
          clientMessageId,
          sentAt: now,
          ...links,
        },
      })
      return events
    }

    case 'EditMessage': {
      const message = requireMessage(conv, state.message, command.messageId, actorId)
      if (message.senderId !== actorId) throw notSender('edit')
      if (message.deleted) {
        throw new DomainError('message_deleted', 'A deleted message cannot be edited')
      }
      const content = normalizeEditedContent(command.content, message.hasAttachments)
      const mentions = decideMentions(command.mentions, currentParticipants(conv!))
      return [
        {
          type: 'MessageEdited',
          data: {
            conversationId: command.conversationId,
            messageId: command.messageId,
            editorId: actorId,
            content,
            editedAt: now,
            ...(mentions ? { mentions } : {}),
          },
        },
      ]
    }

    case 'DeleteMessage': {
      const message = requireMessage(conv, state.message, command.messageId, actorId)
      if (message.senderId !== actorId && !mayDeleteOthers(conv!, actorId)) {
        throw notSender('delete')
      }
      if (message.deleted) return []
      const deleted: ConversationEvent = {
        type: 'MessageDeleted',
        data: {
          conversationId: command.conversationId,
          messageId: command.messageId,
          deletedBy: actorId,
          deletedAt: now,
        },
      }
      // a deleted message does not stay pinned
      if (!conv!.pins?.includes(command.messageId)) return [deleted]
      return [deleted, ...decidePin({ ...command, type: 'UnpinMessage' }, conv!.pins, message, ctx)]
    }

    case 'AddReaction':
    case 'RemoveReaction':
      return decideReaction(
        command,
        requireVisibleMessage(conv, state.message, command, actorId),
        ctx,
      )

    case 'PinMessage':
    case 'UnpinMessage': {
      const message = requireVisibleMessage(conv, state.message, command, actorId)
      return decidePin(command, conv!.pins ?? [], message, ctx)
    }

    case 'MarkRead':
    case 'MarkDelivered': {
      if (!conv) throw conversationNotFound()
      if (!isCurrentParticipant(conv, actorId)) throw notParticipant()
      const target = markerTarget(conv, state.message, command.upToMessageId ?? null, actorId)
      if (!target) return []
      // read implies delivered: a delivered marker never moves to or below the read marker
      const read = conv.readMarkers[actorId]
      if (read && read.version >= target.version) return []
      if (command.type === 'MarkRead') {
        return [
          {
            type: 'MessagesRead',
            data: {
              conversationId: conv.conversationId,
              userId: actorId,
              upToMessageId: target.messageId,
              upToVersion: target.version,
              readAt: now,
            },
          },
        ]
      }
      const delivered = conv.deliveredMarkers?.[actorId]
      if (delivered && delivered.version >= target.version) return []
      return [
        {
          type: 'MessagesDelivered',
          data: {
            conversationId: conv.conversationId,
            userId: actorId,
            upToMessageId: target.messageId,
            upToVersion: target.version,
            deliveredAt: now,
          },
        },
      ]
    }

    case 'AddParticipant': {
      if (!conv) throw conversationNotFound()
      if (!isCurrentParticipant(conv, actorId)) throw notParticipant()
      if (conv.kind !== 'group') {
        throw invalidCommand('participants can only be added to group conversations')
      }
      checkMayAdd(conv, actorId)
      const userId = command.userId
      if (isCurrentParticipant(conv, userId)) return []
      if (currentParticipants(conv).length >= MAX_GROUP_SIZE) {
        throw invalidCommand(`a group has at most ${MAX_GROUP_SIZE} participants`)
      }
      return [
        {
          type: 'ParticipantAdded',
          data: { conversationId: conv.conversationId, userId, addedBy: actorId, addedAt: now },
        },
      ]
    }

    case 'LeaveConversation': {
      if (!conv) throw conversationNotFound()
      if (!isCurrentParticipant(conv, actorId)) throw notParticipant()
      if (conv.kind !== 'group') {
        throw invalidCommand('only group conversations can be left')
      }
      return [
        {
          type: 'ParticipantLeft',
          data: { conversationId: conv.conversationId, userId: actorId, leftAt: now },
        },
        ...ownershipAfterLeaving(conv, actorId, now),
      ]
    }

    case 'RenameConversation':
    case 'RemoveParticipant':
    case 'ChangeParticipantRole': {
      if (!conv) throw conversationNotFound()
      if (!isCurrentParticipant(conv, actorId)) throw notParticipant()
      if (command.type === 'RenameConversation') return decideRename(command, conv, ctx)
      if (command.type === 'RemoveParticipant') return decideRemove(command, conv, ctx)
      return decideRoleChange(command, conv, ctx)
    }

    default: {
      const _exhaustive: never = command
      throw invalidCommand(`unknown command ${JSON.stringify(_exhaustive)}`)
    }
  }
}

/**
 * The message a read or delivered marker moves to (the given one, or the last one), or null
 * when there is none the actor may mark: a marker never points before the actor joined.
 */
function markerTarget(
  conv: ConversationState,
  message: MessageFacts | null,
  upToMessageId: string | null,
  actorId: string,
): Marker | null {
  const joinedVersion = conv.participants[actorId]!.joinedVersion
  let target: Marker | null
  if (upToMessageId) {
    if (
      !message ||
      message.messageId !== upToMessageId ||
      message.conversationId !== conv.conversationId
    )
      throw messageNotFound()
    if (message.version < joinedVersion) throw messageNotFound()
    target = { messageId: message.messageId, version: message.version }
  } else {
    target = conv.lastMessage
  }
  return !target || target.version < joinedVersion ? null : target
}

function requireMessage(
  conv: ConversationState | null,
  message: MessageFacts | null,
  messageId: string,
  actorId: string,
): MessageFacts {
  if (!conv) throw conversationNotFound()
  if (!isCurrentParticipant(conv, actorId)) throw notParticipant()
  if (!message || message.messageId !== messageId || message.conversationId !== conv.conversationId)
    throw messageNotFound()
  return message
}

/** A message of the conversation that the actor, a current participant, may see. */
function requireVisibleMessage(
  conv: ConversationState | null,
  message: MessageFacts | null,
  command: { messageId: string },
  actorId: string,
): MessageFacts {
  const found = requireMessage(conv, message, command.messageId, actorId)
  if (found.version < conv!.participants[actorId]!.joinedVersion) throw messageNotFound()
  return found
}

function startConversation(
  command: Extract<ConversationCommand, { type: 'StartConversation' }>,
  conv: ConversationState | null,
  { actorId, now }: CommandContext,
): ConversationEvent[] {
  const participantIds = [...new Set([actorId, ...command.participantIds])]
  if (command.kind === 'direct') {
    if (participantIds.length !== 2) {
      throw invalidCommand(
        participantIds.length < 2
          ? 'you cannot start a conversation with yourself'
          : 'a direct conversation has exactly two participants',
        { field: 'participantIds' },
      )
    }
    const expectedId = directConversationId(participantIds[0]!, participantIds[1]!)
    if (command.conversationId !== expectedId) {
      throw invalidCommand('a direct conversation id is derived from its two participants')
    }
    if (conv) return []
    return [
      {
        type: 'ConversationStarted',
        data: {
          conversationId: command.conversationId,
          kind: 'direct',
          title: null,
          createdBy: actorId,
          participantIds,
          startedAt: now,
        },
      },
    ]
  }
  if (participantIds.length < MIN_GROUP_SIZE || participantIds.length > MAX_GROUP_SIZE) {
    throw invalidCommand(
      `a group has ${MIN_GROUP_SIZE} to ${MAX_GROUP_SIZE} participants including its creator`,
      { field: 'participantIds', count: participantIds.length },
    )
  }
  const title = (command.title ?? '').trim()
  if (title.length < 1 || title.length > MAX_TITLE_LENGTH) {
    throw invalidCommand(`a group title has 1 to ${MAX_TITLE_LENGTH} characters`, {
      field: 'title',
    })
  }
  if (conv) return []
  return [
    {
      type: 'ConversationStarted',
      data: {
        conversationId: command.conversationId,
        kind: 'group',
        title,
        createdBy: actorId,
        participantIds,
        startedAt: now,
      },
    },
  ]
}

/** Folds one event into the conversation's decision state; each event is one stream version. */
export function evolve(
  state: ConversationState | null,
  event: ConversationEvent,
): ConversationState {
  const version = (state?.version ?? 0) + 1
  if (event.type === 'ConversationStarted') {
    const d = event.data
    return {
      conversationId: d.conversationId,
      kind: d.kind,
      title: d.title,
      createdBy: d.createdBy,
      participants: Object.fromEntries(
        d.participantIds.map((id) => [id, { joinedVersion: version, leftVersion: null }]),
      ),
      readMarkers: {},
      lastMessage: null,
      version,
      roles: initialRoles(d.kind, d.createdBy, d.participantIds),
    }
  }
  if (!state) throw new Error(`${event.type} cannot be the first event of a conversation`)
  switch (event.type) {
    case 'MessageSent':
      return { ...state, lastMessage: { messageId: event.data.messageId, version }, version }
    case 'MessagesRead':
      return {
        ...state,
        readMarkers: {
          ...state.readMarkers,
          [event.data.userId]: {
            version: event.data.upToVersion,
            messageId: event.data.upToMessageId,
          },
        },
        version,
      }
    case 'MessagesDelivered':
      return {
        ...state,
        deliveredMarkers: {
          ...state.deliveredMarkers,
          [event.data.userId]: {
            version: event.data.upToVersion,
            messageId: event.data.upToMessageId,
          },
        },
        version,
      }
    case 'ParticipantAdded':
      return {
        ...state,
        participants: {
          ...state.participants,
          [event.data.userId]: { joinedVersion: version, leftVersion: null },
        },
        roles: evolveRoles(state, event),
        version,
      }
    case 'ParticipantLeft':
    case 'ParticipantRemoved': {
      const p = state.participants[event.data.userId]
      return {
        ...state,
        participants: {
          ...state.participants,
          [event.data.userId]: { joinedVersion: p?.joinedVersion ?? 0, leftVersion: version },
        },
        roles: evolveRoles(state, event),
        version,
      }
    }
    case 'ParticipantRoleChanged':
      return { ...state, roles: evolveRoles(state, event), version }
    case 'ConversationRenamed':
      return { ...state, title: event.data.title, version }
    case 'MessagePinned':
    case 'MessageUnpinned':
      return { ...state, pins: evolvePins(state.pins, event), version }
    case 'MessageEdited':
    case 'MessageDeleted':
    case 'UserContentErased':
    case 'ReactionAdded':
    case 'ReactionRemoved':
      return { ...state, version }
    default: {
      const _exhaustive: never = event
      throw new Error(`unknown event ${JSON.stringify(_exhaustive)}`)
    }
  }
}

/** Folds one event into the facts about a message (for the message facts table). */
export function evolveMessage(
  facts: MessageFacts | null,
  event: ConversationEvent,
  version: number,
): MessageFacts | null {
  switch (event.type) {
    case 'MessageSent':
      return {
        messageId: event.data.messageId,
        conversationId: event.data.conversationId,
        senderId: event.data.senderId,
        version,
        hasAttachments: event.data.attachments.length > 0,
        deleted: false,
        ...(event.data.threadRootId ? { threadRootId: event.data.threadRootId } : {}),
      }
    case 'MessageDeleted':
      // a deleted message's reactions are dropped with it
      if (!facts) return facts
      return { ...facts, deleted: true, ...(facts.reactions ? { reactions: {} } : {}) }
    case 'ReactionAdded':
    case 'ReactionRemoved':
      return facts ? { ...facts, reactions: evolveReactions(facts.reactions, event) } : facts
    default:
      return facts
  }
}

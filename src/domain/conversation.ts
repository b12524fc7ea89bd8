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
import { isUserStreamId } from './user-events.ts'

export const MIN_GROUP_SIZE = 3
export const MAX_GROUP_SIZE = 100
export const MAX_TITLE_LENGTH = 100
export const MAX_CLIENT_MESSAGE_ID_LENGTH = 64

export type Participation = { joinedVersion: number; leftVersion: number | null }

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
  readMarkers: Record<string, { version: number; messageId: string }>
  lastMessage: { messageId: string; version: number } | null
  version: number
  /** Pinned message ids, newest first (absent in snapshots from before pins). */
  pins?: string[]
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
      if (message.senderId !== actorId) throw notSender('delete')
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

    case 'MarkRead': {
      if (!conv) throw conversationNotFound()
      if (!isCurrentParticipant(conv, actorId)) throw notParticipant()
      const joinedVersion = conv.participants[actorId]!.joinedVersion
      let target: { messageId: string; version: number } | null
      if (command.upToMessageId) {
        const message = state.message
        if (
          !message ||
          message.messageId !== command.upToMessageId ||
          message.conversationId !== conv.conversationId
        )
          throw messageNotFound()
        if (message.version < joinedVersion) throw messageNotFound()
        target = { messageId: message.messageId, version: message.version }
      } else {
        target = conv.lastMessage
      }
      // A marker never points before the reader joined: what was sent while away is not theirs.
      if (!target || target.version < joinedVersion) return []
      const marker = conv.readMarkers[actorId]
      if (marker && marker.version >= target.version) return []
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

    case 'AddParticipant': {
      if (!conv) throw conversationNotFound()
      if (!isCurrentParticipant(conv, actorId)) throw notParticipant()
      if (conv.kind !== 'group') {
        throw invalidCommand('participants can only be added to group conversations')
      }
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
      ]
    }

    default: {
      const _exhaustive: never = command
      throw invalidCommand(`unknown command ${JSON.stringify(_exhaustive)}`)
    }
  }
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
    case 'ParticipantAdded':
      return {
        ...state,
        participants: {
          ...state.participants,
          [event.data.userId]: { joinedVersion: version, leftVersion: null },
        },
        version,
      }
    case 'ParticipantLeft': {
      const p = state.participants[event.data.userId]
      return {
        ...state,
        participants: {
          ...state.participants,
          [event.data.userId]: { joinedVersion: p?.joinedVersion ?? 0, leftVersion: version },
        },
        version,
      }
    }
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

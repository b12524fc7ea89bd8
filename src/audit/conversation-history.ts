import type { RecordedEvent } from '../conversation-log.ts'
import type { Attachment } from '../domain/events.ts'
import {
  foldMessageFeature,
  type MessageLinksHistory,
  type PinHistory,
  sentLinks,
} from './message-features-history.ts'

/** Where an event sits: its stream version, log position and recorded time. */
export type EventRef = { version: number; position: number; recordedAt: string }

export type Membership = {
  joinedAt: string
  joinedVersion: number
  /** Who added them (null: a founding participant). */
  addedBy: string | null
  leftAt: string | null
  leftVersion: number | null
}

export type ParticipantHistory = { userId: string; current: boolean; memberships: Membership[] }

export type MessageEdit = EventRef & {
  editorId: string
  editedAt: string
  /** null once erased. */
  content: string | null
  erased: boolean
}

export type MessageHistory = EventRef &
  MessageLinksHistory & {
    messageId: string
    senderId: string
    sentAt: string
    clientMessageId: string | null
    /** The text as sent (null once erased). */
    originalContent: string | null
    /** The text after the last edit (null once erased). */
    content: string | null
    attachments: Attachment[]
    edits: MessageEdit[]
    deleted: (EventRef & { deletedBy: string; deletedAt: string }) | null
    /** The sender's content was erased (right to be forgotten). */
    erased: boolean
  }

export type ReadMarker = {
  userId: string
  upToMessageId: string
  upToVersion: number
  readAt: string
}

export type Erasure = EventRef & {
  userId: string
  erasedBy: string
  reason: string
  messageIds: string[]
  erasedAt: string
}

/** A conversation as it stood at one point of the log, with everything that led there. */
export type ConversationHistory = {
  conversationId: string
  kind: 'direct' | 'group'
  title: string | null
  createdBy: string
  startedAt: string
  /** The stream version and log position of the last event folded in. */
  version: number
  position: number
  participants: ParticipantHistory[]
  messages: MessageHistory[]
  readMarkers: ReadMarker[]
  erasures: Erasure[]
  /** Pinned messages at that position, newest pin first. */
  pins: PinHistory[]
}

/**
 * Folds a conversation's events (in version order, e.g. `readStream(sql, id, { upToPosition })`)
 * into the state an auditor asks about: who was in it, every message with its edits and
 * deletion, and how far each participant had read. Null for no events.
 */
export function foldConversationHistory(events: RecordedEvent[]): ConversationHistory | null {
  let h: ConversationHistory | null = null
  const participants = new Map<string, ParticipantHistory>()
  const messages = new Map<string, MessageHistory>()
  const markers = new Map<string, ReadMarker>()
  for (const event of events) {
    const ref: EventRef = {
      version: event.version,
      position: event.position,
      recordedAt: event.recordedAt,
    }
    if (event.type === 'ConversationStarted') {
      const d = event.data
      h = {
        conversationId: d.conversationId,
        kind: d.kind,
        title: d.title,
        createdBy: d.createdBy,
        startedAt: d.startedAt,
        version: 0,
        position: 0,
        participants: [],
        messages: [],
        readMarkers: [],
        erasures: [],
        pins: [],
      }
      for (const userId of d.participantIds) {
        participants.set(userId, {
          userId,
          current: true,
          memberships: [join(d.startedAt, event.version, null)],
        })
      }
    }
    if (!h)
      throw new Error(`${event.type} at version ${event.version} precedes the conversation start`)
    h.version = event.version
    h.position = event.position
    switch (event.type) {
      case 'ConversationStarted':
        break
      case 'MessageSent': {
        const d = event.data
        messages.set(d.messageId, {
          ...ref,
          messageId: d.messageId,
          senderId: d.senderId,
          sentAt: d.sentAt,
          clientMessageId: d.clientMessageId,
          originalContent: event.erased ? null : d.content,
          content: event.erased ? null : d.content,
          attachments: d.attachments,
          edits: [],
          deleted: null,
          erased: event.erased,
          ...sentLinks(d),
        })
        break
      }
      case 'MessageEdited': {
        const d = event.data
        const m = messages.get(d.messageId)
        if (!m) break
        const content = event.erased ? null : d.content
        m.edits.push({
          ...ref,
          editorId: d.editorId,
          editedAt: d.editedAt,
          content,
          erased: event.erased,
        })
        m.content = content
        if (d.mentions) m.mentions = d.mentions
        break
      }
      case 'MessageDeleted': {
        const m = messages.get(event.data.messageId)
        if (m)
          m.deleted = { ...ref, deletedBy: event.data.deletedBy, deletedAt: event.data.deletedAt }
        break
      }
      case 'MessagesRead': {
        const d = event.data
        markers.set(d.userId, {
          userId: d.userId,
          upToMessageId: d.upToMessageId,
          upToVersion: d.upToVersion,
          readAt: d.readAt,
        })
        break
      }
      case 'ParticipantAdded': {
        const d = event.data
        const p = participants.get(d.userId) ?? {
          userId: d.userId,
          current: false,
          memberships: [],
        }
        p.current = true
        p.memberships.push(join(d.addedAt, event.version, d.addedBy))
        participants.set(d.userId, p)
        break
      }
      case 'ParticipantLeft':
      case 'ParticipantRemoved': {
        const p = participants.get(event.data.userId)
        const m = p?.memberships.at(-1)
        if (p && m) {
          p.current = false
          m.leftAt = event.type === 'ParticipantLeft' ? event.data.leftAt : event.data.removedAt
          m.leftVersion = event.version
        }
        break
      }
      case 'UserContentErased': {
        const d = event.data
        h.erasures.push({
          ...ref,
          userId: d.userId,
          erasedBy: d.erasedBy,
          reason: d.reason,
          messageIds: d.messageIds,
          erasedAt: d.erasedAt,
        })
        for (const id of d.messageIds) {
          const m = messages.get(id)
          if (!m) continue
          m.erased = true
          m.originalContent = null
          m.content = null
          m.attachments = []
          for (const edit of m.edits) {
            edit.content = null
            edit.erased = true
          }
        }
        break
      }
      case 'ConversationRenamed':
        h.title = event.data.title
        break
      // roles and delivered markers are not part of this history (yet): the events are
      case 'ParticipantRoleChanged':
      case 'MessagesDelivered':
        break
      case 'ReactionAdded':
      case 'ReactionRemoved':
      case 'MessagePinned':
      case 'MessageUnpinned':
        foldMessageFeature(event, ref, messages, h.pins)
        break
      // events of the per-user streams, never of a conversation's
      case 'UserBlocked':
      case 'UserUnblocked':
      case 'ConversationSettingsChanged':
      case 'UserSettingsChanged':
        break
      default: {
        const _exhaustive: never = event
        throw new Error(`unknown event ${JSON.stringify(_exhaustive)}`)
      }
    }
  }
  if (!h) return null
  h.participants = [...participants.values()]
  h.messages = [...messages.values()]
  h.readMarkers = [...markers.values()]
  return h
}

function join(at: string, version: number, addedBy: string | null): Membership {
  return { joinedAt: at, joinedVersion: version, addedBy, leftAt: null, leftVersion: null }
}

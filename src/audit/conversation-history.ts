import type { RecordedEvent } from '../conversation-log.ts'
import type { Attachment } from '../domain/events.ts'
import type { Role } from '../domain/roles-events.ts'
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
  /** Who removed them (null: they left themselves, or are still in). */
  removedBy: string | null
}

export type RoleChange = EventRef & { role: Role; changedBy: string; changedAt: string }

export type ParticipantHistory = {
  userId: string
  current: boolean
  memberships: Membership[]
  /** Their role in a group at that position (null in a direct conversation, or when out). */
  role: Role | null
  /** Every change of their role after they joined (ownership passing included). */
  roleChanges: RoleChange[]
}

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

export type DeliveredMarker = {
  userId: string
  upToMessageId: string
  upToVersion: number
  deliveredAt: string
}

export type Rename = EventRef & { title: string; renamedBy: string; renamedAt: string }

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
  deliveredMarkers: DeliveredMarker[]
  /** Every rename, oldest first (`title` is the last one's). */
  renames: Rename[]
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
  const delivered = new Map<string, DeliveredMarker>()
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
        deliveredMarkers: [],
        renames: [],
        erasures: [],
        pins: [],
      }
      for (const userId of d.participantIds) {
        participants.set(userId, {
          userId,
          current: true,
          memberships: [join(d.startedAt, event.version, null)],
          role: d.kind === 'group' ? (userId === d.createdBy ? 'owner' : 'member') : null,
          roleChanges: [],
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
          role: null,
          roleChanges: [],
        }
        p.current = true
        // one who comes back comes back as a member
        if (h.kind === 'group') p.role = 'member'
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
          if (event.type === 'ParticipantRemoved') m.removedBy = event.data.removedBy
          // no role while out (as in the decider); one who comes back comes back a member
          p.role = null
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
      case 'ConversationRenamed': {
        const d = event.data
        h.title = d.title
        h.renames.push({ ...ref, title: d.title, renamedBy: d.renamedBy, renamedAt: d.renamedAt })
        break
      }
      case 'ParticipantRoleChanged': {
        const d = event.data
        const p = participants.get(d.userId)
        if (!p) break
        p.role = d.role
        p.roleChanges.push({ ...ref, role: d.role, changedBy: d.changedBy, changedAt: d.changedAt })
        break
      }
      case 'MessagesDelivered': {
        const d = event.data
        delivered.set(d.userId, {
          userId: d.userId,
          upToMessageId: d.upToMessageId,
          upToVersion: d.upToVersion,
          deliveredAt: d.deliveredAt,
        })
        break
      }
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
  h.deliveredMarkers = [...delivered.values()]
  return h
}

function join(at: string, version: number, addedBy: string | null): Membership {
  return {
    joinedAt: at,
    joinedVersion: version,
    addedBy,
    leftAt: null,
    leftVersion: null,
    removedBy: null,
  }
}

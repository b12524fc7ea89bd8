import type { RecordedEvent } from '../conversation-log.ts'
import type { LogCursor } from '../eventstore/event-store.ts'
import type { Queryable } from '../eventstore/sql.ts'
import { startedConversationView } from '../projections/conversations.ts'
import { type ReplyPreview, reactorsOf, replyPreviews } from '../projections/message-extras.ts'
import { getMessageView, sentMessageView } from '../projections/messages.ts'
import type { MessageView } from '../projections/views.ts'
import type { EventFrame } from './protocol.ts'

/** A logged event ready to go out: serialized once, whatever the number of recipients. */
export class OutgoingEvent {
  private readonly texts = new Map<string, string>()

  constructor(
    readonly event: RecordedEvent,
    private readonly frame: EventFrame,
    /** Whether the user had muted the conversation when the event was recorded. */
    private readonly mutedFor: MutedFor = () => false,
    /** For an edited message: who reacted with which emoji, so each viewer gets their `me`. */
    private readonly reactors?: Map<string, Set<string>>,
  ) {}

  get cursor(): LogCursor {
    return this.event
  }

  /**
   * The frame for one connection: a new message is `new_message` only where it was joined;
   * a `message_notification` to a user the message mentions carries `mentioned: true`, to a
   * user who had muted the conversation `muted: true`; an edited message's reactions say
   * `me: true` where this user reacted. Each distinct text is serialized once.
   */
  text(joinedConversation: boolean, userId?: string): string {
    if (this.frame.type === 'message_edited' && userId !== undefined && this.reactors) {
      return this.editedText(this.frame, userId)
    }
    const type =
      this.frame.type === 'new_message' && !joinedConversation
        ? 'message_notification'
        : this.frame.type
    const notified = type === 'message_notification' && userId !== undefined
    const mentioned = notified && mentions(this.frame, userId)
    const muted = notified && this.mutedFor(userId, this.event.streamId, this.event.recordedAt)
    const key = `${type}${mentioned ? '+mentioned' : ''}${muted ? '+muted' : ''}`
    return this.cached(key, () => ({
      ...this.frame,
      type,
      ...(mentioned ? { mentioned: true } : {}),
      ...(muted ? { muted: true } : {}),
    }))
  }

  /** The text of one variant of the frame, serialized the first time it is asked for. */
  private cached(key: string, frame: () => object): string {
    let text = this.texts.get(key)
    if (text === undefined) {
      text = JSON.stringify(frame())
      this.texts.set(key, text)
    }
    return text
  }

  private editedText(frame: EventFrame & { message: MessageView }, userId: string) {
    const mine = frame.message.reactions
      .filter((r) => this.reactors?.get(r.emoji)?.has(userId))
      .map((r) => r.emoji)
    return this.cached(`message_edited+${mine.join(' ')}`, () => {
      const reactions = frame.message.reactions.map((r) => ({ ...r, me: mine.includes(r.emoji) }))
      return { ...frame, message: { ...frame.message, reactions } }
    })
  }
}

const mentions = (frame: EventFrame, userId: string) =>
  frame.type === 'new_message' && frame.message.mentions.includes(userId)

export type KindOf = (conversationId: string) => 'direct' | 'group' | null

/** Whether `userId` had muted the conversation at `at` (the event's recorded time). */
export type MutedFor = (userId: string, conversationId: string, at: string) => boolean

/**
 * Turns a batch of log events into outgoing frames (null for an event clients are not sent),
 * in the same order. Payloads are built from the events themselves, without a query, except an
 * edit: its `message` is the message as REST shows it (one query per edited message).
 */
export async function prepareEvents(
  sql: Queryable,
  events: RecordedEvent[],
  kindOf: KindOf,
  mutedFor?: MutedFor,
): Promise<(OutgoingEvent | null)[]> {
  // a conversation started in this batch is not in the membership cache yet
  const kinds = new Map<string, 'direct' | 'group'>()
  const edited = new Set<string>()
  const quoted = new Set<string>()
  for (const e of events) {
    if (e.type === 'ConversationStarted') kinds.set(e.streamId, e.data.kind)
    else if (e.type === 'MessageEdited') edited.add(e.data.messageId)
    else if (e.type === 'MessageSent' && e.data.replyToMessageId)
      quoted.add(e.data.replyToMessageId)
  }
  const [previews, reactors] = await Promise.all([
    replyPreviews(sql, [...quoted]),
    reactorsOf(sql, [...edited]),
  ])
  const views = new Map<string, MessageView>()
  for (const id of edited) {
    const view = await getMessageView(sql, id)
    if (view) views.set(id, view)
  }
  const kindOfAny: KindOf = (id) => kinds.get(id) ?? kindOf(id)
  return events.map((e) => {
    const frame = toFrame(e, views, kindOfAny, previews)
    if (!frame) return null
    const reactedTo = e.type === 'MessageEdited' ? reactors.get(e.data.messageId) : undefined
    return new OutgoingEvent(e, frame, mutedFor, reactedTo)
  })
}

function toFrame(
  e: RecordedEvent,
  edited: Map<string, MessageView>,
  kindOf: KindOf,
  previews: Map<string, ReplyPreview>,
): EventFrame | null {
  const base = { position: e.position, conversationId: e.streamId }
  switch (e.type) {
    case 'ConversationStarted':
      return { ...base, type: 'conversation_started', conversation: startedConversationView(e) }
    case 'MessageSent':
      return {
        ...base,
        type: 'new_message',
        message: {
          ...sentMessageView(e.data, kindOf(e.streamId)),
          replyTo: previews.get(e.data.replyToMessageId ?? '') ?? null,
        },
      }
    case 'MessageEdited': {
      const message = edited.get(e.data.messageId)
      return message ? { ...base, type: 'message_edited', message } : null
    }
    case 'MessageDeleted':
      return { ...base, type: 'message_deleted', messageId: e.data.messageId }
    case 'MessagesRead':
      return {
        ...base,
        type: 'messages_read',
        userId: e.data.userId,
        upToMessageId: e.data.upToMessageId,
        readAt: e.data.readAt,
      }
    case 'ParticipantAdded':
      return { ...base, type: 'participant_added', userId: e.data.userId }
    case 'ParticipantLeft':
      return { ...base, type: 'participant_left', userId: e.data.userId }
    case 'UserContentErased':
      return null
    case 'ConversationRenamed':
      return {
        ...base,
        type: 'conversation_updated',
        title: e.data.title,
        updatedBy: e.data.renamedBy,
        updatedAt: e.data.renamedAt,
      }
    case 'ParticipantRemoved':
      return { ...base, type: 'participant_removed', ...pick(e.data, 'userId', 'removedBy') }
    case 'ParticipantRoleChanged':
      return { ...base, type: 'role_changed', ...pick(e.data, 'userId', 'role', 'changedBy') }
    case 'MessagesDelivered':
      return {
        ...base,
        type: 'messages_delivered',
        ...pick(e.data, 'userId', 'upToMessageId', 'deliveredAt'),
      }
    // per-user state: its effects reach the sockets through the hub's user settings cache
    case 'UserBlocked':
    case 'UserUnblocked':
    case 'ConversationSettingsChanged':
    case 'UserSettingsChanged':
      return null
    case 'ReactionAdded':
    case 'ReactionRemoved': {
      const type = e.type === 'ReactionAdded' ? 'reaction_added' : 'reaction_removed'
      const { messageId, emoji, userId } = e.data
      return { ...base, type, messageId, emoji, userId }
    }
    case 'MessagePinned':
      return {
        ...base,
        type: 'message_pinned',
        ...pick(e.data, 'messageId', 'pinnedBy', 'pinnedAt'),
      }
    case 'MessageUnpinned':
      return { ...base, type: 'message_unpinned', ...pick(e.data, 'messageId', 'unpinnedBy') }
    default: {
      const _exhaustive: never = e
      throw new Error(`no frame for ${JSON.stringify(_exhaustive)}`)
    }
  }
}

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>
}

import type { RecordedEvent } from '../conversation-log.ts'
import type { LogCursor } from '../eventstore/event-store.ts'
import type { Queryable } from '../eventstore/sql.ts'
import { startedConversationView } from '../projections/conversations.ts'
import { getMessageView, sentMessageView } from '../projections/messages.ts'
import type { MessageView } from '../projections/views.ts'
import type { EventFrame } from './protocol.ts'

/** A logged event ready to go out: serialized once, whatever the number of recipients. */
export class OutgoingEvent {
  private readonly texts = new Map<string, string>()

  constructor(
    readonly event: RecordedEvent,
    private readonly frame: EventFrame,
  ) {}

  get cursor(): LogCursor {
    return this.event
  }

  /** The frame for one connection: a new message is `new_message` only where it was joined. */
  text(joinedConversation: boolean): string {
    const type =
      this.frame.type === 'new_message' && !joinedConversation
        ? 'message_notification'
        : this.frame.type
    let text = this.texts.get(type)
    if (text === undefined) {
      text = JSON.stringify({ ...this.frame, type })
      this.texts.set(type, text)
    }
    return text
  }
}

export type KindOf = (conversationId: string) => 'direct' | 'group' | null

/**
 * Turns a batch of log events into outgoing frames (null for an event clients are not sent),
 * in the same order. Payloads are built from the events themselves, without a query, except an
 * edit: its `message` is the message as REST shows it (one query per edited message).
 */
export async function prepareEvents(
  sql: Queryable,
  events: RecordedEvent[],
  kindOf: KindOf,
): Promise<(OutgoingEvent | null)[]> {
  // a conversation started in this batch is not in the membership cache yet
  const kinds = new Map<string, 'direct' | 'group'>()
  const edited = new Set<string>()
  for (const e of events) {
    if (e.type === 'ConversationStarted') kinds.set(e.streamId, e.data.kind)
    else if (e.type === 'MessageEdited') edited.add(e.data.messageId)
  }
  const views = new Map<string, MessageView>()
  for (const id of edited) {
    const view = await getMessageView(sql, id)
    if (view) views.set(id, view)
  }
  const kindOfAny: KindOf = (id) => kinds.get(id) ?? kindOf(id)
  return events.map((e) => {
    const frame = toFrame(e, views, kindOfAny)
    return frame ? new OutgoingEvent(e, frame) : null
  })
}

function toFrame(
  e: RecordedEvent,
  edited: Map<string, MessageView>,
  kindOf: KindOf,
): EventFrame | null {
  const base = { position: e.position, conversationId: e.streamId }
  switch (e.type) {
    case 'ConversationStarted':
      return { ...base, type: 'conversation_started', conversation: startedConversationView(e) }
    case 'MessageSent':
      return {
        ...base,
        type: 'new_message',
        message: sentMessageView(e.data, kindOf(e.streamId)),
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
    default: {
      const _exhaustive: never = e
      throw new Error(`no frame for ${JSON.stringify(_exhaustive)}`)
    }
  }
}

import { type ConversationEvent, conversationEvents } from './domain/events.ts'
import { type UserEvent, userEventSchemas } from './domain/user-events.ts'
import {
  createEventStore,
  type RecordedEvent as StoredRecordedEvent,
} from './eventstore/event-store.ts'

/** Every event of the log: conversation streams and per-user streams (`user-<id>`). */
export type LogEvent = ConversationEvent | UserEvent

/**
 * An event as recorded in the log. Readers of the whole log also meet the events of the
 * per-user streams (blocks, conversation settings, user settings).
 */
export type RecordedEvent = StoredRecordedEvent<LogEvent>

/** An event of a conversation stream as recorded. */
export type RecordedConversationEvent = StoredRecordedEvent<ConversationEvent>

/** The registry of the one log: the conversation events and the per-user events. */
export const logEvents = {
  ...conversationEvents,
  schemas: { ...conversationEvents.schemas, ...userEventSchemas },
}

/**
 * The generic event store bound to the events of the log: the one place where the domain's
 * schemas meet the store. Every layer appends and reads events through it.
 */
export const conversationLog = createEventStore<LogEvent>(logEvents)

import { type ConversationEvent, conversationEvents } from './domain/events.ts'
import {
  createEventStore,
  type RecordedEvent as StoredRecordedEvent,
} from './eventstore/event-store.ts'

/** A conversation event as recorded in the log. */
export type RecordedEvent = StoredRecordedEvent<ConversationEvent>

/**
 * The generic event store bound to the conversation events: the one place where the domain's
 * schemas meet the store. Every layer appends and reads conversation events through it.
 */
export const conversationLog = createEventStore<ConversationEvent>(conversationEvents)

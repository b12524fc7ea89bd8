import { eventSchemas, isEventType } from '../domain/events.ts'
import type { EventRegistry } from '../eventstore/batch-append.ts'

/** Fields of each event type that hold user content and can be erased. */
const erasableFields: Record<string, readonly string[]> = {
  MessageSent: ['content', 'attachments'],
  MessageEdited: ['content'],
}

/** The chat's event types as the generic event store sees them (schemas, erasable fields). */
export const chatEventRegistry: EventRegistry = {
  currentVersion(type) {
    if (!isEventType(type)) throw new Error(`unknown event type ${type}`)
    return eventSchemas[type].current
  },
  validate(type, data) {
    if (!isEventType(type)) return 'unknown event type'
    const spec = eventSchemas[type]
    const schema = (spec.versions as Record<number, (typeof spec.versions)[1]>)[spec.current]!
    const parsed = schema.safeParse(data)
    return parsed.success ? null : parsed.error.issues
  },
  erasableFields: (type) => erasableFields[type],
}

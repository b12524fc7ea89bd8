import type { NatsConnection } from 'nats'
import type { RecordedEvent } from '../conversation-log.ts'
import type { LogCursor } from '../eventstore/event-store.ts'

/**
 * What the relay publishes for each batch it read from the log, on NATS:
 * - `<prefix>.c.<conversationId>.ev`: that conversation's events of the batch (one message);
 * - `<prefix>.m`: the membership events of the batch (every process needs them: a user of its
 *   may have been added to a conversation it does not follow yet);
 * - `<prefix>.t`: last, the batch's tick: the log range it covers and which conversations had
 *   a message, so that a process can tell that it got all it follows (else it reads the range
 *   from PostgreSQL). The relay also sends an empty tick every second: it is alive.
 * Ephemeral signals (typing, joins) go on `<prefix>.c.<conversationId>.sig`.
 */
export type Tick = {
  /** relay instance */
  r: string
  /** batch number of that relay */
  s: number
  from: LogCursor
  to: LogCursor
  /** conversations that had an `.ev` message in this batch */
  c: string[]
  /** number of membership events (on `.m`) in this batch */
  m: number
}

export type BatchPart = { r: string; s: number; e: RecordedEvent[] }

/** The events every process receives, whatever conversations it follows. */
export const MEMBERSHIP_EVENTS = new Set<string>([
  'ConversationStarted',
  'ParticipantAdded',
  'ParticipantLeft',
  'ParticipantRemoved',
])

/** The subjects of one deployment (one log): the prefix carries the database schema. */
export function fanoutSubjects(schema: string) {
  const prefix = `eventchat.${schema}`
  return {
    tick: `${prefix}.t`,
    members: `${prefix}.m`,
    events: (conversationId: string) => `${prefix}.c.${conversationId}.ev`,
    signals: (conversationId: string) => `${prefix}.c.${conversationId}.sig`,
    /** Both of a conversation's subjects. */
    conversation: (conversationId: string) => `${prefix}.c.${conversationId}.*`,
  }
}

export type FanoutSubjects = ReturnType<typeof fanoutSubjects>

/** The NATS side of fan-out, as the relay and the followers of one process share it. */
export type Fanout = { nc: NatsConnection; subjects: FanoutSubjects }

const encoder = new TextEncoder()
const decoder = new TextDecoder()
export const encodeJson = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value))
export const decodeJson = <T>(data: Uint8Array): T => JSON.parse(decoder.decode(data)) as T

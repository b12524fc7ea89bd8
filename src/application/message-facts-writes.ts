import type { RecordedEvent } from '../conversation-log.ts'
import { evolveMessage, type MessageFacts } from '../domain/conversation.ts'
import type { ConversationEvent } from '../domain/events.ts'
import type { Tx } from '../eventstore/sql.ts'

/**
 * The `reactions` of message_facts after `events`, for each message they reacted on, starting
 * from the facts read before deciding (`before`). The events may be a whole batch: a message
 * sent in it starts from its MessageSent, and one deleted after a reaction ends with none (the
 * delete statement of the facts writers empties them too).
 */
export function reactionFactsAfter(
  before: (messageId: string) => MessageFacts | null,
  events: RecordedEvent[],
): Map<string, MessageFacts['reactions']> {
  const after = new Map<string, MessageFacts | null>()
  const reactedOn = new Set<string>()
  for (const event of events) {
    if (event.type === 'ReactionAdded' || event.type === 'ReactionRemoved') {
      reactedOn.add(event.data.messageId)
    } else if (event.type !== 'MessageSent' && event.type !== 'MessageDeleted') {
      continue
    }
    const id = event.data.messageId
    const current = after.has(id) ? after.get(id)! : before(id)
    after.set(id, evolveMessage(current, event as ConversationEvent, event.version))
  }
  const reactions = new Map<string, MessageFacts['reactions']>()
  for (const id of reactedOn) {
    const facts = after.get(id)
    if (facts) reactions.set(id, facts.reactions ?? {})
  }
  return reactions
}

/** Starts (without awaiting) one update of the reactions of message_facts, if any changed. */
export function writeReactionFacts(
  tx: Tx,
  reactions: Map<string, MessageFacts['reactions']>,
): Promise<unknown>[] {
  if (reactions.size === 0) return []
  const ids = [...reactions.keys()]
  const values = ids.map((id) => JSON.stringify(reactions.get(id) ?? {}))
  return [
    tx`
      update message_facts f set reactions = u.reactions
      from unnest(${ids}::text[], ${values}::text[]::jsonb[]) as u(id, reactions)
      where f.message_id = u.id`.execute(),
  ]
}

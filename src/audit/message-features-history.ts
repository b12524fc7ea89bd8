import type { RecordedEvent } from '../conversation-log.ts'
import type { EventOf } from '../domain/events.ts'

// What an auditor sees of reactions, replies, threads, mentions and pins in a conversation's
// history at a position (folded with the rest in conversation-history.ts).

export type EventRef = { version: number; position: number; recordedAt: string }

/** A reaction standing at the position asked about. */
export type ReactionHistory = EventRef & { emoji: string; userId: string; reactedAt: string }

/** The links of a message as sent, its mentions (after edits) and its standing reactions. */
export type MessageLinksHistory = {
  replyToMessageId: string | null
  threadRootId: string | null
  alsoInConversation: boolean
  mentions: string[]
  reactions: ReactionHistory[]
}

export type PinHistory = EventRef & { messageId: string; pinnedBy: string; pinnedAt: string }

/** The links part of a message's history, from its MessageSent event. */
export function sentLinks(d: EventOf<'MessageSent'>['data']): MessageLinksHistory {
  return {
    replyToMessageId: d.replyToMessageId ?? null,
    threadRootId: d.threadRootId ?? null,
    alsoInConversation: d.alsoInConversation ?? false,
    mentions: d.mentions ?? [],
    reactions: [],
  }
}

type Feature = Extract<
  RecordedEvent,
  { type: 'ReactionAdded' | 'ReactionRemoved' | 'MessagePinned' | 'MessageUnpinned' }
>

/** Folds a reaction or pin event into the messages and pins of a conversation's history. */
export function foldMessageFeature(
  event: Feature,
  ref: EventRef,
  messages: Map<string, MessageLinksHistory>,
  pins: PinHistory[],
): void {
  switch (event.type) {
    case 'ReactionAdded': {
      const d = event.data
      messages.get(d.messageId)?.reactions.push({
        ...ref,
        emoji: d.emoji,
        userId: d.userId,
        reactedAt: d.reactedAt,
      })
      return
    }
    case 'ReactionRemoved': {
      const m = messages.get(event.data.messageId)
      if (!m) return
      const { emoji, userId } = event.data
      m.reactions = m.reactions.filter((r) => r.emoji !== emoji || r.userId !== userId)
      return
    }
    case 'MessagePinned': {
      const d = event.data
      pins.unshift({ ...ref, messageId: d.messageId, pinnedBy: d.pinnedBy, pinnedAt: d.pinnedAt })
      return
    }
    case 'MessageUnpinned': {
      const i = pins.findIndex((p) => p.messageId === event.data.messageId)
      if (i >= 0) pins.splice(i, 1)
      return
    }
  }
}

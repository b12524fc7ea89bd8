import { DomainError } from './errors.ts'
import type { ConversationEvent } from './events.ts'

export const MAX_PINS = 50

export type PinMessage = { type: 'PinMessage'; conversationId: string; messageId: string }
export type UnpinMessage = { type: 'UnpinMessage'; conversationId: string; messageId: string }
export type PinCommand = PinMessage | UnpinMessage

/** Decides a pin on a message the actor may see (checked by the caller); `pins` newest first. */
export function decidePin(
  command: PinCommand,
  pins: string[],
  message: { deleted: boolean },
  { actorId, now }: { actorId: string; now: string },
): ConversationEvent[] {
  const { conversationId, messageId } = command
  const pinned = pins.includes(messageId)
  if (command.type === 'UnpinMessage') {
    if (!pinned) return []
    return [
      {
        type: 'MessageUnpinned',
        data: { conversationId, messageId, unpinnedBy: actorId, unpinnedAt: now },
      },
    ]
  }
  if (message.deleted)
    throw new DomainError('message_deleted', 'A deleted message cannot be pinned')
  if (pinned) return []
  if (pins.length >= MAX_PINS) {
    throw new DomainError('limit_reached', `A conversation has at most ${MAX_PINS} pins`, {
      limit: MAX_PINS,
    })
  }
  return [
    {
      type: 'MessagePinned',
      data: { conversationId, messageId, pinnedBy: actorId, pinnedAt: now },
    },
  ]
}

/** The pins (newest first) after an event (deleting a pinned message also unpins it). */
export function evolvePins(pins: string[] | undefined, event: ConversationEvent): string[] {
  const current = pins ?? []
  switch (event.type) {
    case 'MessagePinned':
      return [event.data.messageId, ...current.filter((id) => id !== event.data.messageId)]
    case 'MessageUnpinned':
      return current.filter((id) => id !== event.data.messageId)
    default:
      return current
  }
}

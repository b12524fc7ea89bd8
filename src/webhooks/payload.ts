import type { RecordedEvent } from '../conversation-log.ts'
import { previewOf } from './notifications.ts'
import { NOTIFICATION_CREATED } from './subscriptions.ts'

/** The JSON body of one webhook. */
export type WebhookPayload = {
  /** The delivery's id (also `webhook-id`): the same on every attempt, new on a replay. */
  id: string
  type: string
  position: number
  conversationId: string
  recordedAt: string
  data: Record<string, unknown>
}

/**
 * The body for a delivery, built when it is sent from the event as the log holds it then: an
 * erasure that happened since the event was recorded has already removed its content.
 */
export function buildPayload(
  delivery: { id: string; type: string; userId: string | null; mentioned: boolean },
  event: RecordedEvent,
  options: { notificationPreview: boolean },
): WebhookPayload {
  const common = {
    id: delivery.id,
    position: event.position,
    conversationId: event.streamId,
    recordedAt: event.recordedAt,
  }
  if (delivery.type === NOTIFICATION_CREATED && event.type === 'MessageSent') {
    return {
      ...common,
      type: NOTIFICATION_CREATED,
      data: {
        userId: delivery.userId,
        conversationId: event.streamId,
        messageId: event.data.messageId,
        preview: previewOf(event, options.notificationPreview),
        mentioned: delivery.mentioned,
      },
    }
  }
  return { ...common, type: event.type, data: event.data as Record<string, unknown> }
}

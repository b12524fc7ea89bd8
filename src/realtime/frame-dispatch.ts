import type { AppContext } from '../application/context.ts'
import * as useCases from '../application/use-cases.ts'
import type { Connection } from './connection.ts'
import { FrameError } from './frames.ts'
import { dispatchMessageFeature } from './message-feature-frames.ts'
import type { ClientFrame, FrameRef } from './protocol.ts'

type SignalKind = 'typing' | 'stop' | 'join' | 'leave'

/** What handling a frame needs from the rest of the process (the hub provides it). */
export type FrameDeps = {
  app: AppContext
  typingTimeoutMs: number
  isCurrentMember(conversationId: string, userId: string): Promise<boolean>
  publishSignal(kind: SignalKind, conversationId: string, userId: string): Promise<void>
  /** Joins and announces it, unless already joined. */
  joinConversation(conn: Connection, conversationId: string): Promise<void>
  leaveConversation(conn: Connection, conversationId: string): void
}

/**
 * Handles one client frame of `conn`: commands go to the use cases (as the HTTP routes do),
 * signals to the other sockets; the reply is an ack, a pong, or (thrown) an error.
 */
export async function dispatchFrame(
  deps: FrameDeps,
  conn: Connection,
  frame: ClientFrame,
): Promise<void> {
  const userId = conn.user.id
  const caller = conn.caller
  const requireMember = async (conversationId: string) => {
    if (!(await deps.isCurrentMember(conversationId, userId))) {
      throw new FrameError('not_found', 'Conversation not found')
    }
  }
  switch (frame.type) {
    case 'ping':
      conn.send({ type: 'pong', ...ref(frame.id) })
      return
    case 'join_personal_room':
      conn.send({ type: 'ack', ...ref(frame.id) })
      return
    case 'send_message': {
      const outcome = await useCases.sendMessage(deps.app, caller, {
        conversationId: frame.conversationId,
        receiverId: frame.receiverId,
        content: frame.content,
        attachments: frame.attachments,
        clientMessageId: frame.clientMessageId ?? null,
        replyToMessageId: frame.replyToMessageId ?? null,
        threadRootId: frame.threadRootId ?? null,
        alsoInConversation: frame.alsoInConversation ?? false,
        ...(frame.mentions === undefined ? {} : { mentions: frame.mentions }),
      })
      conn.send({
        type: 'ack',
        ...ref(frame.id),
        messageId: outcome.messageId,
        conversationId: outcome.conversationId,
        position: outcome.position,
      })
      return
    }
    case 'mark_as_read':
    case 'mark_delivered': {
      const mark = frame.type === 'mark_as_read' ? useCases.markRead : useCases.markDelivered
      const outcome = await mark(deps.app, caller, {
        conversationId: frame.conversationId,
        upToMessageId: frame.upToMessageId ?? null,
      })
      conn.send({
        type: 'ack',
        ...ref(frame.id),
        conversationId: outcome.conversationId,
        position: outcome.position,
      })
      return
    }
    case 'rename_conversation':
    case 'remove_participant':
    case 'change_role': {
      const { conversationId } = frame
      const outcome =
        frame.type === 'rename_conversation'
          ? await useCases.renameConversation(deps.app, caller, {
              conversationId,
              title: frame.title,
            })
          : frame.type === 'remove_participant'
            ? await useCases.removeParticipant(deps.app, caller, {
                conversationId,
                userId: frame.userId,
              })
            : await useCases.changeParticipantRole(deps.app, caller, {
                conversationId,
                userId: frame.userId,
                role: frame.role,
              })
      conn.send({ type: 'ack', ...ref(frame.id), conversationId, position: outcome.position })
      return
    }
    case 'typing': {
      await requireMember(frame.conversationId)
      const last = conn.typingIn.get(frame.conversationId)
      const now = Date.now()
      // renewals are throttled: every receiver keeps the signal alive for the whole timeout
      if (last === undefined || now - last >= deps.typingTimeoutMs / 4) {
        conn.typingIn.set(frame.conversationId, now)
        await deps.publishSignal('typing', frame.conversationId, userId)
      }
      if (frame.id !== undefined) conn.send({ type: 'ack', ...ref(frame.id) })
      return
    }
    case 'stop_typing': {
      await requireMember(frame.conversationId)
      conn.typingIn.delete(frame.conversationId)
      await deps.publishSignal('stop', frame.conversationId, userId)
      if (frame.id !== undefined) conn.send({ type: 'ack', ...ref(frame.id) })
      return
    }
    case 'join_conversation': {
      await requireMember(frame.conversationId)
      await deps.joinConversation(conn, frame.conversationId)
      conn.send({ type: 'ack', ...ref(frame.id), conversationId: frame.conversationId })
      return
    }
    case 'leave_conversation': {
      if (conn.joined.has(frame.conversationId)) {
        deps.leaveConversation(conn, frame.conversationId)
        await deps.publishSignal('leave', frame.conversationId, userId)
      } else {
        await requireMember(frame.conversationId)
      }
      conn.send({ type: 'ack', ...ref(frame.id), conversationId: frame.conversationId })
      return
    }
    case 'add_reaction':
    case 'remove_reaction':
    case 'pin_message':
    case 'unpin_message': {
      const outcome = await dispatchMessageFeature(deps.app, caller, frame)
      conn.send({
        type: 'ack',
        ...ref(frame.id),
        conversationId: outcome.conversationId,
        position: outcome.position,
      })
      return
    }
    default: {
      const _exhaustive: never = frame
      throw new FrameError('unknown_type', `Unknown frame ${JSON.stringify(_exhaustive)}`)
    }
  }
}

const ref = (id: FrameRef) => (id === undefined ? {} : { ref: id })

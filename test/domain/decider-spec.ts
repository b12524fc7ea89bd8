import { expect } from 'vitest'
import type { CommandContext, ConversationCommand } from '../../src/domain/commands.ts'
import { targetMessageId } from '../../src/domain/commands.ts'
import {
  type ConversationState,
  type DecisionState,
  decide,
  evolve,
  evolveMessage,
  type MessageFacts,
} from '../../src/domain/conversation.ts'
import { directConversationId } from '../../src/domain/conversation-id.ts'
import { DomainError } from '../../src/domain/errors.ts'
import type { Attachment, ConversationEvent, EventOf } from '../../src/domain/events.ts'

export const NOW = '2026-11-26T12:00:00.000Z'
export const EARLIER = '2026-11-26T11:00:00.000Z'

export const ALICE = 'alice'
export const BOB = 'bob'
export const CAROL = 'carol'
export const DAVE = 'dave'
export const ERIN = 'erin'

export const DIRECT = directConversationId(ALICE, BOB)
export const GROUP = 'group-1'

/** What the store keeps: each stream's decision state, and the facts of every message. */
export type Folded = {
  streams: Map<string, ConversationState>
  facts: Map<string, MessageFacts>
}

/**
 * Folds events as the command handler keeps them: `evolve` per stream (the event's
 * conversationId), `evolveMessage` per message with the version the event got in its stream.
 */
export function fold(events: ConversationEvent[]): Folded {
  const streams = new Map<string, ConversationState>()
  const facts = new Map<string, MessageFacts>()
  for (const event of events) {
    const streamId = event.data.conversationId
    const conversation = evolve(streams.get(streamId) ?? null, event)
    streams.set(streamId, conversation)
    const messageId = (event.data as { messageId?: unknown }).messageId
    if (typeof messageId === 'string') {
      const next = evolveMessage(facts.get(messageId) ?? null, event, conversation.version)
      if (next) facts.set(messageId, next)
    }
  }
  return { streams, facts }
}

/** The decision state of one conversation after the events (those of other streams ignored). */
export const stateOf = (events: ConversationEvent[], conversationId = DIRECT) =>
  fold(events).streams.get(conversationId) ?? null

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/**
 * Emmett-style decider specification:
 * `given(events).when(command, { actorId }).thenEmits(events)` or `.thenFails(code)`.
 * `decide` gets what the handler would load: the command's stream state and the facts of the
 * message it points at (from any stream). Both are frozen, so mutating them fails the test.
 */
export function given(...events: ConversationEvent[]) {
  return {
    when(
      command: ConversationCommand,
      { blockedBy, ...ctx }: Partial<CommandContext> & { actorId: string; blockedBy?: string[] },
    ) {
      const { streams, facts } = fold(events)
      const target = targetMessageId(command)
      const state: DecisionState = deepFreeze({
        conversation: streams.get(command.conversationId) ?? null,
        message: target ? (facts.get(target) ?? null) : null,
        ...(blockedBy ? { blockedBy: new Set(blockedBy) } : {}),
      })
      const run = () => decide(command, state, { now: NOW, ...ctx })
      return {
        thenEmits(expected: ConversationEvent[]) {
          expect(run()).toEqual(expected)
        },
        thenNothing() {
          expect(run()).toEqual([])
        },
        thenFails(code: DomainError['code'], message?: RegExp) {
          let error: unknown = null
          try {
            run()
          } catch (e) {
            error = e
          }
          expect(error, 'expected the command to be rejected').toBeInstanceOf(DomainError)
          expect((error as DomainError).code).toBe(code)
          if (message) expect((error as DomainError).message).toMatch(message)
        },
        /** The decided events, for assertions the helpers above do not cover. */
        events: run,
      }
    },
  }
}

// Event builders: the facts a test starts from.

export const directStarted = (
  a = ALICE,
  b = BOB,
  createdBy = a,
): EventOf<'ConversationStarted'> => ({
  type: 'ConversationStarted',
  data: {
    conversationId: directConversationId(a, b),
    kind: 'direct',
    title: null,
    createdBy,
    participantIds: [createdBy, createdBy === a ? b : a],
    startedAt: EARLIER,
  },
})

export const groupStarted = (
  participantIds = [ALICE, BOB, CAROL],
  title = 'Team',
): EventOf<'ConversationStarted'> => ({
  type: 'ConversationStarted',
  data: {
    conversationId: GROUP,
    kind: 'group',
    title,
    createdBy: participantIds[0]!,
    participantIds,
    startedAt: EARLIER,
  },
})

export const sent = (
  messageId: string,
  senderId = ALICE,
  options: {
    conversationId?: string
    content?: string
    attachments?: Attachment[]
    clientMessageId?: string | null
  } = {},
): EventOf<'MessageSent'> => ({
  type: 'MessageSent',
  data: {
    conversationId: options.conversationId ?? DIRECT,
    messageId,
    senderId,
    content: options.content ?? `text of ${messageId}`,
    attachments: options.attachments ?? [],
    clientMessageId: options.clientMessageId ?? null,
    sentAt: EARLIER,
  },
})

export const edited = (
  messageId: string,
  editorId = ALICE,
  content = 'edited',
  conversationId = DIRECT,
): EventOf<'MessageEdited'> => ({
  type: 'MessageEdited',
  data: { conversationId, messageId, editorId, content, editedAt: EARLIER },
})

export const deleted = (
  messageId: string,
  deletedBy = ALICE,
  conversationId = DIRECT,
): EventOf<'MessageDeleted'> => ({
  type: 'MessageDeleted',
  data: { conversationId, messageId, deletedBy, deletedAt: EARLIER },
})

export const read = (
  userId: string,
  upToMessageId: string,
  upToVersion: number,
  conversationId = DIRECT,
): EventOf<'MessagesRead'> => ({
  type: 'MessagesRead',
  data: { conversationId, userId, upToMessageId, upToVersion, readAt: EARLIER },
})

export const added = (
  userId: string,
  addedBy = ALICE,
  conversationId = GROUP,
): EventOf<'ParticipantAdded'> => ({
  type: 'ParticipantAdded',
  data: { conversationId, userId, addedBy, addedAt: EARLIER },
})

export const left = (userId: string, conversationId = GROUP): EventOf<'ParticipantLeft'> => ({
  type: 'ParticipantLeft',
  data: { conversationId, userId, leftAt: EARLIER },
})

export const photo = (n = 1): Attachment => ({
  url: `https://files.example.com/p${n}.jpg`,
  name: `p${n}.jpg`,
  mimeType: 'image/jpeg',
  size: 1000 + n,
})

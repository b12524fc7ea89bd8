import { invalidCommand } from './errors.ts'
import { MAX_MENTIONS } from './message-feature-events.ts'

/**
 * What the sender said about a message it links to (the quoted message, a thread's root), as
 * read from the message facts before deciding: null when there is no such message. These facts
 * never change once a message exists, so reading them outside the append transaction is safe.
 */
export type MessageRef = {
  messageId: string
  facts: { conversationId: string; version: number; threadRootId: string | null } | null
}

/** The optional parts of SendMessage: a quote reply, a thread reply, mentions. */
export type MessageLinks = {
  replyTo?: MessageRef | null
  threadRoot?: MessageRef | null
  /** A thread reply that is also shown in the conversation's history. */
  alsoInConversation?: boolean
  /** User ids; each must be a participant. */
  mentions?: string[]
}

/** Where the sender stands: the conversation, its current participants and when they joined. */
export type LinkContext = { conversationId: string; participants: string[]; joinedVersion: number }

/** The MessageSent fields of the links (only those that are set); throws a 400 on a bad one. */
export function decideLinks(links: MessageLinks, at: LinkContext) {
  const fields: {
    replyToMessageId?: string
    threadRootId?: string
    alsoInConversation?: boolean
    mentions?: string[]
  } = {}
  if (links.replyTo) {
    requireVisible(links.replyTo, at, 'replyToMessageId')
    fields.replyToMessageId = links.replyTo.messageId
  }
  if (links.threadRoot) {
    const root = requireVisible(links.threadRoot, at, 'threadRootId')
    if (root.threadRootId !== null) {
      throw invalidCommand('threadRootId must be a top-level message, not a thread reply', {
        field: 'threadRootId',
      })
    }
    fields.threadRootId = links.threadRoot.messageId
    if (links.alsoInConversation) fields.alsoInConversation = true
  }
  const mentions = decideMentions(links.mentions, at.participants)
  if (mentions) fields.mentions = mentions
  return fields
}

/** The mentions of a message (deduplicated, in the order given), or undefined when none. */
export function decideMentions(
  mentions: string[] | undefined,
  participants: string[],
): string[] | undefined {
  if (mentions === undefined) return undefined
  const unique = [...new Set(mentions)]
  if (unique.length > MAX_MENTIONS) {
    throw invalidCommand(`at most ${MAX_MENTIONS} users can be mentioned`, { field: 'mentions' })
  }
  const outsiders = unique.filter((id) => !participants.includes(id))
  if (outsiders.length > 0) {
    throw invalidCommand('only participants of the conversation can be mentioned', {
      field: 'mentions',
      userIds: outsiders,
    })
  }
  return unique
}

function requireVisible(ref: MessageRef, at: LinkContext, field: string) {
  const f = ref.facts
  if (!f || f.conversationId !== at.conversationId || f.version < at.joinedVersion) {
    throw invalidCommand(`${field} must be a message of this conversation`, { field })
  }
  return f
}

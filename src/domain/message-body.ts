import { invalidCommand } from './errors.ts'
import { type Attachment, attachmentSchema } from './events.ts'

export const MAX_CONTENT_LENGTH = 10_000
export const MAX_ATTACHMENTS = 10

/** Applies the content rules shared by SendMessage and EditMessage; returns the trimmed content. */
export function normalizeBody(content: string | undefined | null, attachments: Attachment[]) {
  const trimmed = (content ?? '').trim()
  if (trimmed.length > MAX_CONTENT_LENGTH) {
    throw invalidCommand(`content is longer than ${MAX_CONTENT_LENGTH} characters`, {
      field: 'content',
      length: trimmed.length,
    })
  }
  if (attachments.length > MAX_ATTACHMENTS) {
    throw invalidCommand(`at most ${MAX_ATTACHMENTS} attachments are allowed`, {
      field: 'attachments',
    })
  }
  // The event schema checks this too, but only at append time and as a server error.
  attachments.forEach((attachment, index) => {
    const parsed = attachmentSchema.safeParse(attachment)
    if (!parsed.success) {
      throw invalidCommand(`attachment ${index + 1} is invalid`, {
        field: 'attachments',
        index,
        issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      })
    }
  })
  if (trimmed.length === 0 && attachments.length === 0) {
    throw invalidCommand('a message needs content or at least one attachment', {
      field: 'content',
    })
  }
  return trimmed
}

/** The content rules for an edit: the message keeps its attachments, so content may be empty. */
export function normalizeEditedContent(content: string, hasAttachments: boolean) {
  const trimmed = content.trim()
  if (trimmed.length > MAX_CONTENT_LENGTH) {
    throw invalidCommand(`content is longer than ${MAX_CONTENT_LENGTH} characters`, {
      field: 'content',
      length: trimmed.length,
    })
  }
  if (trimmed.length === 0 && !hasAttachments) {
    throw invalidCommand('a message needs content or at least one attachment', { field: 'content' })
  }
  return trimmed
}

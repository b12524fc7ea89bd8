/** A command was rejected by the domain. `code` is stable and mapped to HTTP/WS errors at the edge. */
export class DomainError extends Error {
  constructor(
    readonly code:
      | 'invalid_command'
      | 'not_participant'
      | 'conversation_not_found'
      | 'message_not_found'
      | 'not_sender'
      | 'message_deleted'
      | 'limit_reached'
      | 'forbidden'
      | 'blocked',
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'DomainError'
  }
}

export const invalidCommand = (message: string, details?: unknown) =>
  new DomainError('invalid_command', message, details)
export const notParticipant = () =>
  new DomainError('not_participant', 'You are not a participant of this conversation')
export const conversationNotFound = () =>
  new DomainError('conversation_not_found', 'Conversation not found')
export const messageNotFound = () => new DomainError('message_not_found', 'Message not found')
export const notSender = (action: string) =>
  new DomainError('not_sender', `Only the sender of a message may ${action} it`)
export const blocked = () =>
  new DomainError('blocked', 'The other participant does not accept messages from you')

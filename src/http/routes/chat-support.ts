import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { CommandOutcome } from '../../application/command-handler.ts'
import type { ConversationCommand } from '../../domain/commands.ts'
import { DomainError } from '../../domain/errors.ts'
import { ApiError, notFound } from '../../edge/api-error.ts'
import type { Env } from '../../edge/env.ts'
import { findMembership, type Membership } from '../../projections/members.ts'
import type { Services } from '../../services.ts'

export type ChatApp = OpenAPIHono<Env>

/** Runs a command as the request's user, at the service clock's time, with its request id. */
export function execute(
  services: Services,
  c: Context<Env>,
  command: ConversationCommand,
  clientCommandId?: string | null,
): Promise<CommandOutcome> {
  return services.execute(command, {
    actorId: c.get('user').id,
    now: services.clock().toISOString(),
    clientCommandId: clientCommandId ?? null,
    correlationId: c.get('requestId'),
  })
}

/** 429 with Retry-After when the user sends faster than the configured rate. */
export function takeSendToken(services: Services, userId: string): void {
  const taken = services.rateLimiter.take(userId)
  if (!taken.ok) {
    throw new ApiError(
      429,
      'rate_limited',
      'Too many messages; slow down',
      { retryAfterSeconds: taken.retryAfterSeconds },
      { 'Retry-After': String(taken.retryAfterSeconds) },
    )
  }
}

/** The user's membership (current or former), or the same 404 as a conversation that is not. */
export async function requireMembership(
  services: Services,
  conversationId: string,
  userId: string,
): Promise<Membership> {
  const membership = await findMembership(services.db.sql, conversationId, userId)
  if (!membership) throw notFound('Conversation')
  return membership
}

/**
 * For routes addressed by message id: a message in a conversation the user is not (or no
 * longer) in is answered exactly like a message that does not exist.
 */
export async function asMessageRoute<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (
      error instanceof DomainError &&
      (error.code === 'not_participant' || error.code === 'conversation_not_found')
    ) {
      throw notFound('Message')
    }
    throw error
  }
}

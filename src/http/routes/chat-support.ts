import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { Caller } from '../../application/context.ts'
import { notFound } from '../../edge/api-error.ts'
import type { Env } from '../../edge/env.ts'
import { findMembership, type Membership } from '../../projections/members.ts'
import type { Services } from '../../services.ts'

export type ChatApp = OpenAPIHono<Env>

/** The caller of a use case: the request's user, correlated by the request id. */
export const callerOf = (c: Context<Env>): Caller => ({
  userId: c.get('user').id,
  correlationId: c.get('requestId'),
})

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

import { OpenAPIHono } from '@hono/zod-openapi'
import type { Env } from '../../edge/env.ts'
import { requireAuth } from '../../edge/require-auth.ts'
import type { Services } from '../../services.ts'
import { conversationRoutes } from './chat-conversations.ts'
import { messageFeatureRoutes } from './chat-message-features.ts'
import { messageRoutes } from './chat-messages.ts'
import { moderationRoutes } from './chat-moderation.ts'
import { presenceRoutes } from './chat-presence.ts'
import { searchRoutes } from './chat-search.ts'
import { userSettingsRoutes } from './chat-user-settings.ts'

/**
 * The REST API of REST clients under /api/chat (the paths and shapes older clients use), every
 * route behind a bearer token. Returns a mount for `createApp`.
 */
export const chatRoutes = (services: Services) =>
  function mountChat(app: OpenAPIHono<Env>) {
    const chat = new OpenAPIHono<Env>()
    chat.use('*', requireAuth(services.verifyToken))
    messageRoutes(chat, services)
    conversationRoutes(chat, services)
    moderationRoutes(chat, services)
    searchRoutes(chat, services)
    messageFeatureRoutes(chat, services)
    presenceRoutes(chat, services)
    userSettingsRoutes(chat, services)
    app.route('/api/chat', chat)
  }

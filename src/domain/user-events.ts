import { z } from 'zod'

// Per-user logged state (issue 12, part B): each user's blocks, per-conversation settings
// (mute, archive) and own settings (presence visibility) live in one stream per user,
// `user-<userId>` (see `userStreamId`), beside the conversation streams in the one log.

const userId = z.string().min(1).max(128)

export const userBlockedV1 = z.object({
  userId,
  blockedUserId: userId,
  blockedAt: z.string(),
})

export const userUnblockedV1 = z.object({
  userId,
  blockedUserId: userId,
  unblockedAt: z.string(),
})

/** The user's settings of one conversation after the change (all of them, not a patch). */
export const conversationSettingsChangedV1 = z.object({
  userId,
  conversationId: z.string(),
  muted: z.boolean(),
  /** The mute ends by itself at this time (null: until unmuted). */
  mutedUntil: z.string().nullable(),
  archived: z.boolean(),
  changedAt: z.string(),
})

export const presenceVisibility = z.enum(['visible', 'hidden'])
export type PresenceVisibility = z.infer<typeof presenceVisibility>

/** The user's own settings after the change. */
export const userSettingsChangedV1 = z.object({
  userId,
  presence: presenceVisibility,
  changedAt: z.string(),
})

export const userEventSchemas = {
  UserBlocked: { current: 1, versions: { 1: userBlockedV1 } },
  UserUnblocked: { current: 1, versions: { 1: userUnblockedV1 } },
  ConversationSettingsChanged: { current: 1, versions: { 1: conversationSettingsChangedV1 } },
  UserSettingsChanged: { current: 1, versions: { 1: userSettingsChangedV1 } },
} as const

export type UserEvent =
  | { type: 'UserBlocked'; data: z.infer<typeof userBlockedV1> }
  | { type: 'UserUnblocked'; data: z.infer<typeof userUnblockedV1> }
  | { type: 'ConversationSettingsChanged'; data: z.infer<typeof conversationSettingsChangedV1> }
  | { type: 'UserSettingsChanged'; data: z.infer<typeof userSettingsChangedV1> }

export type UserEventType = UserEvent['type']

export const userEventTypes = Object.keys(userEventSchemas) as UserEventType[]

export function isUserEvent<E extends { type: string }>(
  event: E,
): event is Extract<E, { type: UserEventType }> {
  return Object.hasOwn(userEventSchemas, event.type)
}

export const USER_STREAM_PREFIX = 'user-'

/** The stream of a user's logged state (conversation streams are UUIDs: never this shape). */
export const userStreamId = (userId: string) => `${USER_STREAM_PREFIX}${userId}`

/** Whether a stream id is a user's stream. */
export const isUserStreamId = (streamId: string) => streamId.startsWith(USER_STREAM_PREFIX)

import { DomainError, invalidCommand } from './errors.ts'
import type { PresenceVisibility, UserEvent } from './user-events.ts'

/** The most users one user may block (the state is kept with the stream). */
export const MAX_BLOCKS = 1000

export type ConversationSettings = { muted: boolean; mutedUntil: string | null; archived: boolean }

export const DEFAULT_CONVERSATION_SETTINGS: ConversationSettings = {
  muted: false,
  mutedUntil: null,
  archived: false,
}

/** The decision state of one user's stream, stored with it (no replay to decide). */
export type UserState = {
  userId: string
  version: number
  /** Blocked user ids, sorted. */
  blocked: string[]
  /** Settings per conversation, only those that differ from the default. */
  conversations: Record<string, ConversationSettings>
  presence: PresenceVisibility
}

export const initialUserState = (userId: string): UserState => ({
  userId,
  version: 0,
  blocked: [],
  conversations: {},
  presence: 'visible',
})

export type BlockUser = { type: 'BlockUser'; userId: string }
export type UnblockUser = { type: 'UnblockUser'; userId: string }
/** Only the fields given change; `mutedUntil` alone mutes until then. */
export type ChangeConversationSettings = {
  type: 'ChangeConversationSettings'
  conversationId: string
  muted?: boolean
  mutedUntil?: string | null
  archived?: boolean
}
export type ChangeUserSettings = { type: 'ChangeUserSettings'; presence: PresenceVisibility }

export type UserCommand = BlockUser | UnblockUser | ChangeConversationSettings | ChangeUserSettings

/** Whether settings mute the conversation at `at` (a mute with an end lasts until it). */
export function isMutedAt(settings: ConversationSettings | null | undefined, at: string): boolean {
  if (!settings?.muted) return false
  return settings.mutedUntil === null || Date.parse(settings.mutedUntil) > Date.parse(at)
}

/** Decides a command of the user's own stream (the actor is always the stream's user). */
export function decideUser(command: UserCommand, state: UserState, now: string): UserEvent[] {
  const userId = state.userId
  switch (command.type) {
    case 'BlockUser': {
      if (command.userId === userId) {
        throw invalidCommand('you cannot block yourself', { field: 'userId' })
      }
      if (state.blocked.includes(command.userId)) return []
      if (state.blocked.length >= MAX_BLOCKS) {
        throw new DomainError('limit_reached', `a user blocks at most ${MAX_BLOCKS} users`, {
          limit: MAX_BLOCKS,
        })
      }
      return [
        { type: 'UserBlocked', data: { userId, blockedUserId: command.userId, blockedAt: now } },
      ]
    }
    case 'UnblockUser':
      if (!state.blocked.includes(command.userId)) return []
      return [
        {
          type: 'UserUnblocked',
          data: { userId, blockedUserId: command.userId, unblockedAt: now },
        },
      ]
    case 'ChangeConversationSettings': {
      const before = state.conversations[command.conversationId] ?? DEFAULT_CONVERSATION_SETTINGS
      const after = nextSettings(before, command, now)
      // `archived` given is always recorded: a new message may have unarchived the
      // conversation in the read model since (a projection rule this state does not follow)
      if (
        command.archived === undefined &&
        after.muted === before.muted &&
        after.mutedUntil === before.mutedUntil &&
        after.archived === before.archived
      ) {
        return []
      }
      return [
        {
          type: 'ConversationSettingsChanged',
          data: { userId, conversationId: command.conversationId, ...after, changedAt: now },
        },
      ]
    }
    case 'ChangeUserSettings':
      if (state.presence === command.presence) return []
      return [
        {
          type: 'UserSettingsChanged',
          data: { userId, presence: command.presence, changedAt: now },
        },
      ]
    default: {
      const _exhaustive: never = command
      throw invalidCommand(`unknown command ${JSON.stringify(_exhaustive)}`)
    }
  }
}

function nextSettings(
  before: ConversationSettings,
  command: ChangeConversationSettings,
  now: string,
): ConversationSettings {
  let { muted, mutedUntil } = before
  if (command.mutedUntil !== undefined && command.mutedUntil !== null) {
    const until = Date.parse(command.mutedUntil)
    if (Number.isNaN(until)) {
      throw invalidCommand('mutedUntil is a date-time', { field: 'mutedUntil' })
    }
    if (until <= Date.parse(now)) {
      throw invalidCommand('mutedUntil is in the future', { field: 'mutedUntil' })
    }
    if (command.muted === false) {
      throw invalidCommand('mutedUntil needs muted: true', { field: 'mutedUntil' })
    }
    muted = true
    mutedUntil = new Date(until).toISOString()
  } else if (command.muted !== undefined) {
    muted = command.muted
    // muting again without an end (or unmuting) drops the end
    mutedUntil = null
  } else if (command.mutedUntil === null) {
    mutedUntil = null
  }
  // a mute that already ended is no mute
  if (muted && !isMutedAt({ muted, mutedUntil, archived: false }, now)) {
    muted = false
    mutedUntil = null
  }
  if (!muted) mutedUntil = null
  return { muted, mutedUntil, archived: command.archived ?? before.archived }
}

/** Folds one event of the user's stream into its state; each event is one stream version. */
export function evolveUser(state: UserState, event: UserEvent): UserState {
  const version = state.version + 1
  switch (event.type) {
    case 'UserBlocked':
      return {
        ...state,
        blocked: [...state.blocked, event.data.blockedUserId].sort(),
        version,
      }
    case 'UserUnblocked':
      return {
        ...state,
        blocked: state.blocked.filter((id) => id !== event.data.blockedUserId),
        version,
      }
    case 'ConversationSettingsChanged': {
      const { conversationId, muted, mutedUntil, archived } = event.data
      const conversations = { ...state.conversations }
      if (!muted && !archived) delete conversations[conversationId]
      else conversations[conversationId] = { muted, mutedUntil, archived }
      return { ...state, conversations, version }
    }
    case 'UserSettingsChanged':
      return { ...state, presence: event.data.presence, version }
    default: {
      const _exhaustive: never = event
      throw new Error(`unknown event ${JSON.stringify(_exhaustive)}`)
    }
  }
}

import type { RecordedEvent } from '../conversation-log.ts'
import type { Tx } from '../eventstore/sql.ts'
import {
  applyConversations,
  applyConversationsToSent,
  type PlainMessageSent,
} from './conversations-projection.ts'
import { applyMembers } from './members-projection.ts'
import { applyMentions, applyMentionsToSent } from './mentions-projection.ts'
import { applyMessages, applyMessagesToSent } from './messages-projection.ts'
import { applyPins } from './pins-projection.ts'
import { applyReactions } from './reactions-projection.ts'
import { applyThreads } from './threads-projection.ts'
import { applyUserSettings, applyUserSettingsToSent } from './user-settings-projection.ts'

/** A read-model table and its key (rebuild truncates it, verify compares it row by row). */
export type ProjectionTable = { name: string; key: string[] }

export type Projection = {
  name: string
  apply: (tx: Tx, event: RecordedEvent) => Promise<void>
  /** The tables this projection writes (only the columns it owns, for shared tables). */
  tables?: ProjectionTable[]
  /**
   * `apply` issues every statement it runs before it awaits any result (one statement, or
   * several started together), so a replay may pipeline the statements of many events on its
   * connection without changing their order. Leave unset when in doubt: replay then waits.
   */
  pipelined?: boolean
  /**
   * `apply` for a run of plain messages (`MessageSent` outside threads, no other event between
   * them) in one statement, with the same result as `apply` on each in turn. Projections that
   * do nothing for such messages leave it unset. Runs only where `pipelined` is set.
   */
  applySent?: (tx: Tx, sent: PlainMessageSent[]) => Promise<void>
}

/** Every read model, in the order they are applied. */
export const projections: Projection[] = [
  {
    name: 'members',
    apply: applyMembers,
    tables: [{ name: 'conversation_members', key: ['conversation_id', 'user_id'] }],
    // one statement per event
    pipelined: true,
  },
  // After members: it updates the membership rows that projection creates.
  {
    name: 'conversations',
    apply: applyConversations,
    tables: [{ name: 'conversations', key: ['conversation_id'] }],
    pipelined: true,
    applySent: applyConversationsToSent,
  },
  // Per-user state (issue 12): blocks, conversation settings (mute, archive), user settings.
  // Here, so that a rebuild truncates (locks) its tables in the order the conversation views
  // read them: members, conversations, settings, then messages and the rest.
  {
    name: 'user-settings',
    apply: applyUserSettings,
    tables: [
      { name: 'user_blocks', key: ['user_id', 'blocked_user_id'] },
      { name: 'conversation_settings', key: ['conversation_id', 'user_id'] },
      { name: 'user_settings', key: ['user_id'] },
    ],
    pipelined: true,
    applySent: applyUserSettingsToSent,
  },
  {
    name: 'messages',
    apply: applyMessages,
    tables: [{ name: 'messages', key: ['conversation_id', 'version'] }],
    pipelined: true,
    applySent: applyMessagesToSent,
  },
  // After messages: the next three read the rows it writes (a thread's root, a message's version).
  ...messageFeatureProjections(),
]

/** Reactions, threads, mentions and pins (issue 11); bulk rules in BulkReplay's ledgers. */
function messageFeatureProjections(): Projection[] {
  const table = (name: string, key: string[]) => [{ name, key }]
  return [
    {
      name: 'reactions',
      apply: applyReactions,
      tables: table('message_reactions', ['conversation_id', 'message_id', 'emoji', 'user_id']),
      pipelined: true,
    },
    {
      name: 'threads',
      apply: applyThreads,
      tables: [
        { name: 'message_threads', key: ['conversation_id', 'root_message_id'] },
        { name: 'thread_participants', key: ['conversation_id', 'root_message_id', 'user_id'] },
      ],
      pipelined: true,
    },
    {
      name: 'mentions',
      apply: applyMentions,
      tables: table('message_mentions', ['conversation_id', 'message_id', 'user_id']),
      pipelined: true,
      applySent: applyMentionsToSent,
    },
    {
      name: 'pins',
      apply: applyPins,
      tables: table('message_pins', ['conversation_id', 'message_id']),
      pipelined: true,
    },
  ]
}

/**
 * Inline: applies freshly appended events to every read model inside the append transaction.
 * No checkpoint is touched here on purpose: the append transaction applies each event exactly
 * once, and a shared checkpoint row would serialize appends to different conversations.
 */
export const applyProjections = (tx: Tx, events: RecordedEvent[]): Promise<void> =>
  applyInOrder(tx, events)

/**
 * Event by event, every projection in turn (one projection may read what another wrote for an
 * earlier event). Pipelined projections send their statements without waiting for results (one
 * connection runs them in order); before any other projection, what is in flight is awaited.
 * A run of two or more plain messages (a busy batch) goes through `applySent`: one statement
 * per projection for the whole run instead of one per message.
 */
async function applyInOrder(tx: Tx, events: RecordedEvent[]): Promise<void> {
  let inFlight: Promise<void>[] = []
  for (let i = 0; i < events.length; ) {
    const run = plainMessagesFrom(events, i)
    const step = run.length >= 2 ? run : [events[i]!]
    for (const projection of projections) {
      if (projection.pipelined && projection.applySent && run.length >= 2) {
        inFlight.push(projection.applySent(tx, run))
        continue
      }
      for (const event of step) {
        if (projection.pipelined) {
          inFlight.push(projection.apply(tx, event))
          continue
        }
        await Promise.all(inFlight)
        inFlight = []
        await projection.apply(tx, event)
      }
    }
    i += step.length
  }
  await Promise.all(inFlight)
}

/** The plain messages (see `Projection.applySent`) from `events[from]` on, up to any other event. */
function plainMessagesFrom(events: RecordedEvent[], from: number): PlainMessageSent[] {
  const run: PlainMessageSent[] = []
  for (let i = from; i < events.length; i++) {
    const event = events[i]!
    if (event.type !== 'MessageSent' || event.data.threadRootId) break
    run.push(event)
  }
  return run
}

/** Records `last` as every projection's checkpoint. */
export async function saveCheckpoints(
  tx: Tx,
  last: { position: number; transactionId: string },
): Promise<void> {
  await tx`
    insert into projection_checkpoints ${tx(
      projections.map((p) => ({
        projection: p.name,
        position: last.position,
        transaction_id: last.transactionId,
      })),
      'projection',
      'position',
      'transaction_id',
    )}
    on conflict (projection) do update
      set position = excluded.position, transaction_id = excluded.transaction_id`
}

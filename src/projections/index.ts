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
 *
 * A `ConversationStarted` does not end a run: it is applied at once, before the run's messages
 * that precede it in the log. It writes only rows of its own conversation, and no message of
 * that conversation can come before its start (checked all the same), so the two orders leave
 * the same rows. A busy batch of new direct conversations (start, first message, start, first
 * message, …) is then one run instead of one statement per projection and event.
 */
async function applyInOrder(tx: Tx, events: RecordedEvent[]): Promise<void> {
  // No await here but for a projection that is not pipelined: the batch's COMMIT follows the
  // statements issued synchronously (InlineProjection).
  let inFlight: Promise<void>[] = []
  for (const step of stepsOf(events)) {
    const run = step.length >= 2 ? (step as PlainMessageSent[]) : null
    for (const projection of projections) {
      if (run && projection.pipelined && projection.applySent) {
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
  }
  await Promise.all(inFlight)
}

/**
 * The order `applyInOrder` applies `events` in: single events, and runs of two or more plain
 * messages (every step of two or more events is such a run), with each `ConversationStarted`
 * moved before the run it would have ended (see applyInOrder).
 */
function stepsOf(events: RecordedEvent[]): RecordedEvent[][] {
  const steps: RecordedEvent[][] = []
  let run: PlainMessageSent[] = []
  const runConversations = new Set<string>()
  const endRun = () => {
    if (run.length > 0) steps.push(run)
    run = []
    runConversations.clear()
  }
  for (const event of events) {
    if (isPlainMessage(event)) {
      run.push(event)
      runConversations.add(event.streamId)
    } else if (event.type === 'ConversationStarted' && !runConversations.has(event.streamId)) {
      steps.push([event])
    } else {
      endRun()
      steps.push([event])
    }
  }
  endRun()
  return steps
}

/** A plain message (see `Projection.applySent`): `MessageSent` outside threads. */
function isPlainMessage(event: RecordedEvent): event is PlainMessageSent {
  return event.type === 'MessageSent' && !event.data.threadRootId
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

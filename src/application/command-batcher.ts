import { conversationLog, type RecordedEvent } from '../conversation-log.ts'
import type { ConversationCommand } from '../domain/commands.ts'
import { targetMessageId } from '../domain/commands.ts'
import {
  type ConversationState,
  decide,
  evolve,
  evolveMessage,
  type MessageFacts,
} from '../domain/conversation.ts'
import type { ConversationEvent } from '../domain/events.ts'
import { takeAppendLock } from '../eventstore/append-lock.ts'
import { type StreamAppend, startBatchAppend } from '../eventstore/batch-append.ts'
import { StreamsMovedError } from '../eventstore/errors.ts'
import type { EventMetadata } from '../eventstore/event-store.ts'
import { planStatementsFor, replanEvery } from '../eventstore/plan-reuse.ts'
import { validateNewEvent } from '../eventstore/sealed-event.ts'
import type { Sql, Tx } from '../eventstore/sql.ts'
import type { Logger } from '../logger.ts'
import {
  type BatchDecisionState,
  type BlockQuery,
  blockQueryOf,
  clientKey,
  loadBatchDecisionState,
  type StoredOutcome,
} from './batch-decision-state.ts'
import {
  type CommandResultRow,
  isCommandResultRace,
  writeCommandResults,
  writeMessageFacts,
} from './batch-writes.ts'
import {
  type CommandOptions,
  type CommandOutcome,
  type InlineProjection,
  TooMuchContentionError,
} from './command-handler.ts'

/** How often a command's conversation may be changed by another process before we give up. */
export const MAX_CONFLICTS = 10
/** How often a whole batch is retried after a transient database error (deadlock, id race). */
export const MAX_BATCH_RETRIES = 5

/**
 * The writer connections' reused plans are made again every this many batches (plan-reuse.ts):
 * tables grow by at most this many batches' rows under one plan. Each time costs one planning
 * of each statement, nothing against the planning saved in between.
 */
const REPLAN_EVERY_BATCHES = 500

export type CommandBatcherDeps = {
  /** The database; the batches' transactions run on `writer` when given. */
  sql: Sql
  /** Runs the batch transactions, each with its decision read (at most `maxInFlight` at once). */
  writer?: Sql
  projections?: InlineProjection
  /** Called after each commit that appended events, with all of them in log order. */
  onAppended?: (events: RecordedEvent[]) => void
  /** The most commands one transaction takes. */
  maxBatchSize: number
  /**
   * How many batches may be written at once (1 by default; more needs as many writer
   * connections). Batches in flight together never share a conversation or a client id.
   */
  maxInFlight?: number
  /** Says (debug) when another process moved a conversation and its commands are re-decided. */
  log?: Logger
  /** Told the size of every batch started (for the metrics). */
  onBatch?: (size: number) => void
}

export type CommandBatcher = {
  /** Decides and appends a command; settles after the batch it joined has committed. */
  execute(command: ConversationCommand, options: CommandOptions): Promise<CommandOutcome>
}

type Pending = {
  command: ConversationCommand
  options: CommandOptions
  clientId: string | null
  metadata: EventMetadata
  conflicts: number
  retries: number
  resolve(outcome: CommandOutcome): void
  reject(error: unknown): void
}

/** What deciding made of one command of a batch. */
type Plan =
  | { kind: 'earlier'; outcome: StoredOutcome }
  | { kind: 'rejected'; error: unknown }
  | { kind: 'noop' }
  | { kind: 'append'; from: number; count: number }
  | { kind: 'same-as'; leader: Pending }

/** One conversation while its commands of the batch are decided. */
type StreamWork = {
  expectedVersion: number
  previousHash: string | null
  state: ConversationState | null
  events: ConversationEvent[]
  metadata: EventMetadata[]
  recordedAt: string[]
}

/**
 * Group commit for one process. Commands queue here; whenever fewer than `maxInFlight` batches
 * are being written, the queued ones (at most `maxBatchSize`, none of a conversation a batch in
 * flight holds) become the next batch: decided in arrival order, each against the state the
 * previous command of its conversation left, then written in ONE transaction. A command
 * arriving at an idle process starts a batch at once (no timer).
 *
 * Outcomes, each settled only after the commit: a domain rejection fails its own command only;
 * a conversation another process moved meanwhile rolls the batch back and every command of it
 * is decided again, those of that conversation counting a conflict (503 after MAX_CONFLICTS);
 * a database error fails every command of the batch (or retries the whole
 * batch when it is transient) and, being one transaction, leaves nothing of it behind.
 */
export function createCommandBatcher(deps: CommandBatcherDeps): CommandBatcher {
  let queue: Pending[] = []
  let scheduled = false
  let inFlight = 0
  /** Conversations and client ids of the batches being written. */
  const busyStreams = new Set<string>()
  const busyKeys = new Set<string>()
  const writer = deps.writer ?? deps.sql
  const maxBatchSize = Math.max(1, deps.maxBatchSize)
  const maxInFlight = Math.max(1, deps.maxInFlight ?? 1)
  const replan = replanEvery(REPLAN_EVERY_BATCHES)

  const keyOf = (p: Pending) =>
    p.clientId === null ? null : clientKey(p.options.actorId, p.clientId)

  /**
   * The next batch: queued commands in arrival order, leaving out (with every later command of
   * theirs) conversations and client ids that a batch being written holds, so that a command is
   * always decided on the state every earlier command of its conversation left.
   */
  function takeBatch(): Pending[] {
    const batch: Pending[] = []
    const rest: Pending[] = []
    const held = new Set(busyStreams)
    const heldKeys = new Set(busyKeys)
    for (const p of queue) {
      const key = keyOf(p)
      const blocked =
        batch.length >= maxBatchSize ||
        held.has(p.command.conversationId) ||
        (key !== null && heldKeys.has(key))
      if (blocked) {
        held.add(p.command.conversationId)
        if (key !== null) heldKeys.add(key)
        rest.push(p)
      } else {
        batch.push(p)
      }
    }
    queue = rest
    return batch
  }

  /** Starts batches while there is room in flight and something that may be written. */
  function pump() {
    scheduled = false
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = takeBatch()
      if (batch.length === 0) return
      const streams = new Set(batch.map((p) => p.command.conversationId))
      const keys = batch.map(keyOf).filter((k): k is string => k !== null)
      for (const s of streams) busyStreams.add(s)
      for (const k of keys) busyKeys.add(k)
      inFlight++
      deps.onBatch?.(batch.length)
      void runBatch(batch)
        // a bug, not a database error (those are handled in runBatch): no caller may hang
        .catch((error) => {
          for (const p of batch) p.reject(error)
          return [] as Pending[]
        })
        .then((again) => {
          for (const s of streams) busyStreams.delete(s)
          for (const k of keys) busyKeys.delete(k)
          inFlight--
          // decided again before anything that arrived after them
          queue = [...again, ...queue]
          pump()
        })
    }
  }

  /** Writes one batch; returns the commands to decide again (at the head of the queue). */
  async function runBatch(batch: Pending[]): Promise<Pending[]> {
    // Commands that lost a race to another process are decided again inside the transaction,
    // on their conversations read `for update`: this time no one can move them in between, so a
    // busy conversation shared by processes cannot starve one of them.
    const locked = batch.some((p) => p.conflicts > 0)
    let planned: PlannedBatch
    let written: WrittenBatch
    try {
      // The whole batch is one transaction on a writer connection, the read of what deciding
      // needs included: the same round trips as reading on the read pool first, and a batch of
      // a few commands reuses the plans of its statements (plan-reuse.ts). A transaction has no
      // id before its first write, so the read holds no reader of the log back.
      //
      // The writes are not awaited inside the transaction: postgres.js sends the COMMIT right
      // behind them (one round trip less). Every write that can fail for a reason of its batch
      // (a conversation another process moved, a client id it recorded first) fails its
      // statement, which aborts the transaction: the COMMIT then rolls back (PostgreSQL answers
      // it with ROLLBACK, not an error), and `writing` rejects with that first failure. So the
      // batch committed if and only if both the transaction and `writing` succeeded.
      //
      // If the transaction itself fails (in the read or its set-up, at COMMIT, or with its
      // connection), that error is the cause: a write that failed before it would have aborted
      // the transaction, and the COMMIT would have rolled back without an error. `writing` is
      // then not awaited: statements postgres.js still held back for a connection that closed
      // never settle.
      let writing: Promise<WrittenBatch> | undefined
      planned = await writer.begin(async (tx) => {
        const setup = [planStatementsFor(tx, batch.length), replan(tx)]
        // an appender of the log: the lock comes before the row locks give it a transaction id
        if (locked) setup.push(takeAppendLock(tx))
        // sent together; a failed set-up statement fails the read, and is the cause reported
        const [, loaded] = await Promise.all([
          Promise.all(setup),
          loadBatchDecisionState(tx, wantedFor(batch), { lock: locked }),
        ])
        const planned = planBatch(batch, loaded)
        if (planned.appends.length > 0) {
          writing = startWrites(tx, planned, deps.projections, { lock: !locked })
          // awaited after the COMMIT, and not at all if the transaction fails
          writing.catch(() => {})
        }
        return planned
      })
      written = writing ? await writing : { recorded: new Map(), all: [] }
    } catch (error) {
      if (error instanceof StreamsMovedError) return decideAgain(batch, new Set(error.streamIds))
      if (!isTransient(error)) {
        for (const p of batch) p.reject(error)
        return []
      }
      const again: Pending[] = []
      for (const p of batch) {
        p.retries++
        if (p.retries > MAX_BATCH_RETRIES) p.reject(error)
        else again.push(p)
      }
      return again
    }
    const { recorded, all } = written
    if (all.length > 0) deps.onAppended?.(all)
    const answers = new Map<Pending, CommandOutcome>()
    for (const p of batch) settle(p, planned.plans.get(p)!, recorded, answers)
    return []
  }

  /**
   * After a batch was rolled back because another process moved some of its conversations:
   * every command is decided again; those of the moved conversations count a conflict (503
   * after MAX_CONFLICTS), and make the next batch read its conversations `for update`.
   */
  function decideAgain(batch: Pending[], moved: Set<string>): Pending[] {
    deps.log?.debug('conversations changed by another process: deciding their commands again', {
      conversations: [...moved],
    })
    const again: Pending[] = []
    for (const p of batch) {
      if (moved.has(p.command.conversationId)) {
        p.conflicts++
        if (p.conflicts > MAX_CONFLICTS) {
          p.reject(new TooMuchContentionError(p.command.conversationId, MAX_CONFLICTS))
          continue
        }
      }
      again.push(p)
    }
    return again
  }

  return {
    execute(command, options) {
      return new Promise<CommandOutcome>((resolve, reject) => {
        const clientId = options.clientCommandId ?? null
        const commandId = clientId ?? crypto.randomUUID()
        queue.push({
          command,
          options,
          clientId,
          metadata: {
            actorId: options.actorId,
            commandId,
            correlationId: options.correlationId ?? commandId,
            causationId: options.causationId ?? null,
          },
          conflicts: 0,
          retries: 0,
          resolve,
          reject,
        })
        if (!scheduled && inFlight < maxInFlight) {
          scheduled = true
          // A microtask, not a timer: commands issued in the same tick share a batch.
          queueMicrotask(pump)
        }
      })
    },
  }
}

type PlannedBatch = {
  plans: Map<Pending, Plan>
  /** The message facts as read before deciding. */
  factsBefore: Map<string, MessageFacts>
  streams: Map<string, StreamWork>
  appends: StreamAppend[]
}

type WrittenBatch = {
  /** Per conversation written, its events in version order. */
  recorded: Map<string, RecordedEvent[]>
  /** All of them, in log order. */
  all: RecordedEvent[]
}

/** Decides every command of the batch in arrival order (pure: no I/O). */
function planBatch(batch: Pending[], loaded: BatchDecisionState): PlannedBatch {
  const streams = new Map<string, StreamWork>()
  const facts = new Map(loaded.facts)
  const plans = new Map<Pending, Plan>()
  const leaders = new Map<string, Pending>()
  for (const p of batch) {
    const key = p.clientId === null ? null : clientKey(p.options.actorId, p.clientId)
    const earlier = key === null ? undefined : loaded.earlier.get(key)
    if (earlier) {
      plans.set(p, { kind: 'earlier', outcome: earlier })
      continue
    }
    const leader = key === null ? undefined : leaders.get(key)
    if (leader) {
      plans.set(p, { kind: 'same-as', leader })
      continue
    }
    const work = streamWork(streams, loaded, p.command.conversationId)
    const plan = decideOne(p, work, facts, loaded.blockedBy.get(p.options.actorId))
    plans.set(p, plan)
    if (plan.kind === 'append' && key !== null) leaders.set(key, p)
  }
  const appends: StreamAppend[] = [...streams.entries()]
    .filter(([, w]) => w.events.length > 0)
    .map(([streamId, w]) => ({
      streamId,
      expectedVersion: w.expectedVersion,
      previousHash: w.previousHash,
      state: w.state,
      events: w.events.map((e, i) => ({
        type: e.type,
        data: e.data as Record<string, unknown>,
        metadata: w.metadata[i],
        recordedAt: w.recordedAt[i]!,
      })),
    }))
  return { plans, factsBefore: loaded.facts, streams, appends }
}

/**
 * Inside the batch transaction, in ONE round trip: sends the append lock, the append of every
 * conversation's events (one statement), the message facts, the idempotency records and the
 * inline projections, in this order on the connection, before any result is awaited (the
 * projections' statements too: every inline projection is `pipelined`), so that the COMMIT the
 * caller sends next goes right behind them. They need nothing from the append's answer:
 * positions are read in SQL where stored (the idempotency records). If another process moved
 * one of the conversations, the append fails (StreamsMovedError) and with it the transaction;
 * the returned promise rejects with the first failure, in the order sent.
 */
function startWrites(
  tx: Tx,
  planned: PlannedBatch,
  projections: InlineProjection | undefined,
  options: { lock: boolean },
): Promise<WrittenBatch> {
  // The append lock (the read horizon) is the first statement: no round trip of its own. A
  // failure of the lock fails the statements that follow it too.
  const locked = options.lock ? takeAppendLock(tx) : Promise.resolve()
  const { sealed, appending } = startBatchAppend(tx, planned.appends, conversationLog.registry)
  // every event as it lands: per conversation, and all in log order (positions follow the
  // order of the appends)
  const events = new Map<string, RecordedEvent[]>()
  const all: RecordedEvent[] = []
  for (const at of sealed) {
    const w = planned.streams.get(at.streamId)!
    const list = events.get(at.streamId) ?? []
    events.set(at.streamId, list)
    const i = list.length
    const event = {
      ...w.events[i]!,
      ...at,
      metadata: w.metadata[i]!,
      erased: false,
    } as RecordedEvent
    list.push(event)
    all.push(event)
  }
  const results: CommandResultRow[] = []
  for (const [p, plan] of planned.plans) {
    if (plan.kind !== 'append' || p.clientId === null) continue
    const last = events.get(p.command.conversationId)![plan.from + plan.count - 1]!
    results.push({
      actorId: p.options.actorId,
      clientId: p.clientId,
      commandType: p.command.type,
      outcome: storedOutcome(p, null),
      streamId: last.streamId,
      version: last.version,
      recordedAt: p.options.now,
    })
  }
  // in the order sent: the first to fail is the cause (those after it fail as "transaction
  // aborted")
  const writes: Promise<unknown>[] = [
    locked,
    appending,
    ...writeMessageFacts(tx, all, (id) => planned.factsBefore.get(id) ?? null),
    writeCommandResults(tx, results),
  ]
  if (projections && all.length > 0) writes.push(projections(tx, all))
  return firstFailure(writes).then(async () => {
    // every conversation landed: the positions and transaction id the append answered
    const result = await appending
    for (const [streamId, landed] of result.appended) {
      const list = events.get(streamId)!
      landed.forEach((at, i) => {
        list[i]!.position = at.position
        list[i]!.transactionId = at.transactionId
      })
    }
    return { recorded: events, all }
  })
}

/** Settles when all have; rejects with the failure of the first (in the given order) that failed. */
async function firstFailure(pending: Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(pending)
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed) throw failed.reason
}

function wantedFor(batch: Pending[]) {
  const streamIds = new Set<string>()
  const messageIds = new Set<string>()
  const clientIds = new Map<string, { actorId: string; clientId: string }>()
  const blocks: BlockQuery[] = []
  for (const p of batch) {
    streamIds.add(p.command.conversationId)
    const block = blockQueryOf(p.command, p.options.actorId)
    if (block) blocks.push(block)
    const target = targetMessageId(p.command)
    if (target) messageIds.add(target)
    if (p.clientId !== null) {
      clientIds.set(clientKey(p.options.actorId, p.clientId), {
        actorId: p.options.actorId,
        clientId: p.clientId,
      })
    }
  }
  return {
    streamIds: [...streamIds],
    messageIds: [...messageIds],
    clientIds: [...clientIds.values()],
    blocks,
  }
}

function streamWork(
  streams: Map<string, StreamWork>,
  loaded: BatchDecisionState,
  streamId: string,
): StreamWork {
  let work = streams.get(streamId)
  if (!work) {
    const stored = loaded.streams.get(streamId)
    work = {
      expectedVersion: stored?.state.version ?? 0,
      previousHash: stored?.lastHash ?? null,
      state: stored?.state ?? null,
      events: [],
      metadata: [],
      recordedAt: [],
    }
    streams.set(streamId, work)
  }
  return work
}

/** Decides one command against the state its conversation is in so far in this batch. */
function decideOne(
  p: Pending,
  work: StreamWork,
  facts: Map<string, MessageFacts>,
  blockedBy: ReadonlySet<string> | undefined,
): Plan {
  const target = targetMessageId(p.command)
  let events: ConversationEvent[]
  try {
    events = decide(
      p.command,
      {
        conversation: work.state,
        message: target ? (facts.get(target) ?? null) : null,
        ...(blockedBy ? { blockedBy } : {}),
      },
      { actorId: p.options.actorId, now: p.options.now },
    )
    // Checked here, so that an invalid event fails its own command and not the whole batch.
    let version = work.state?.version ?? 0
    for (const event of events) {
      version++
      validateNewEvent(
        conversationLog.registry,
        { streamId: p.command.conversationId, version },
        event,
      )
    }
  } catch (error) {
    return { kind: 'rejected', error }
  }
  if (events.length === 0) return { kind: 'noop' }
  const from = work.events.length
  for (const event of events) {
    work.state = evolve(work.state, event)
    if (changesMessageFacts(event)) {
      const id = event.data.messageId
      const next = evolveMessage(facts.get(id) ?? null, event, work.state.version)
      if (next) facts.set(id, next)
    }
    work.events.push(event)
    work.metadata.push(p.metadata)
    work.recordedAt.push(p.options.now)
  }
  return { kind: 'append', from, count: events.length }
}

/** Events after which a later command of the batch must see the message's facts changed. */
function changesMessageFacts(
  event: ConversationEvent,
): event is Extract<
  ConversationEvent,
  { type: 'MessageSent' | 'MessageDeleted' | 'ReactionAdded' | 'ReactionRemoved' }
> {
  return (
    event.type === 'MessageSent' ||
    event.type === 'MessageDeleted' ||
    event.type === 'ReactionAdded' ||
    event.type === 'ReactionRemoved'
  )
}

function messageIdOf(command: ConversationCommand): string | null {
  return command.type === 'SendMessage' ? command.messageId : null
}

function storedOutcome(p: Pending, position: number | null): StoredOutcome {
  return { conversationId: p.command.conversationId, messageId: messageIdOf(p.command), position }
}

/** Settles a command whose batch committed; a `same-as` command follows its leader's answer. */
function settle(
  p: Pending,
  plan: Plan,
  recorded: Map<string, RecordedEvent[]>,
  answers: Map<Pending, CommandOutcome>,
) {
  let outcome: CommandOutcome
  switch (plan.kind) {
    case 'earlier':
      outcome = { ...plan.outcome, duplicate: true, events: [] }
      break
    case 'rejected':
      p.reject(plan.error)
      return
    case 'noop':
      outcome = { ...storedOutcome(p, null), duplicate: false, events: [] }
      break
    case 'append': {
      const events = recorded
        .get(p.command.conversationId)!
        .slice(plan.from, plan.from + plan.count)
      outcome = { ...storedOutcome(p, events.at(-1)!.position), duplicate: false, events }
      break
    }
    case 'same-as': {
      // As a retry after the commit would: the leader's answer, nothing new appended.
      const first = answers.get(plan.leader)!
      outcome = { ...first, duplicate: true, events: [] }
      break
    }
    default: {
      const _exhaustive: never = plan
      throw new Error(`unknown plan ${JSON.stringify(_exhaustive)}`)
    }
  }
  answers.set(p, outcome)
  p.resolve(outcome)
}

/** Errors after which the same batch, decided again, can succeed. */
function isTransient(error: unknown): boolean {
  if (isCommandResultRace(error)) return true
  const code = (error as { code?: string })?.code
  // deadlock between two processes' batches; serialization failure
  return code === '40P01' || code === '40001'
}

import { logTurnFailure } from '../eventstore/database-errors.ts'
import { cursorOf, isAfter, type LogCursor } from '../eventstore/event-store.ts'
import { LOG_CHANNEL } from '../eventstore/log-notifier.ts'
import type { Signals } from '../eventstore/signals.ts'
import type { Sql } from '../eventstore/sql.ts'
import type { Logger } from '../logger.ts'
import { issueCheckpoint, latestCheckpoint, type StoredCheckpoint } from './checkpoint-store.ts'
import type { CheckpointSigner } from './checkpoints.ts'
import type { Sha256 } from './merkle.ts'
import { extendTree, type KnownLeaves, type LeafSource } from './merkle-tree.ts'

/** Known leaves kept at most (then the oldest half is dropped: the tree reads it from the log). */
const MAX_KNOWN = 100_000

export type TreeKeeperOptions = {
  sql: Sql
  signals: Signals
  log: Logger
  /** Without a signer the tree is kept but no checkpoint is issued. */
  signer: CheckpointSigner | null
  /** A checkpoint at most this often, and only when the tree grew. */
  checkpointIntervalMs: number
  clock?: () => Date
  hash?: Sha256
  /** Least pause between two turns, so a busy log costs a turn per pause, not per commit. */
  minGapMs?: number
  /** Events per tree transaction (smaller in embedded mode, whose one connection it holds). */
  batchSize?: number
  /**
   * Fed by a reader of the log in this process (`feed`): the tree is extended from what that
   * reader read, and `events` is read only for what it did not see (before its first batch, or
   * after a gap). Such a keeper is woken by its feed, not by the log signal, and extends nothing
   * while it has not been fed (in a process that does not read the log).
   */
  fed?: boolean
}

/**
 * Keeps the audit tree up with the log, after commit and off every command's path: woken by the
 * "log grew" signal (and a timer, for lost signals and for checkpoints), it extends the tree
 * under the lease (another process holding it is doing the work) and issues a checkpoint when one
 * is due.
 */
export class TreeKeeper {
  private running: Promise<void> | null = null
  private dirty = false
  private stopped = false
  private unsubscribe: (() => void) | null = null
  private timer: ReturnType<typeof setInterval> | null = null
  private readonly clock: () => Date
  /** What the feed brought and the tree does not hold yet (fed keepers). */
  private known: KnownLeaves | null = null
  /** Leaves added from the feed and from `events` (diagnostics, tests). */
  readonly counts = { fed: 0, read: 0 }

  constructor(private readonly options: TreeKeeperOptions) {
    this.clock = options.clock ?? (() => new Date())
  }

  async start(): Promise<void> {
    if (!this.options.fed) {
      this.unsubscribe = await this.options.signals.subscribe(
        LOG_CHANNEL,
        () => this.wake(),
        () => this.wake(),
      )
    }
    const every = Math.min(this.options.checkpointIntervalMs, 10_000)
    this.timer = setInterval(() => this.wake(), every)
    this.timer.unref?.()
    this.wake()
  }

  /**
   * Asks for a turn after a short pause (`minGapMs`): a burst of commits costs one turn, and the
   * turn's brief writing transaction (which holds the cluster-wide read horizon of the log
   * followers for its few milliseconds) does not run at every commit.
   */
  wake(): void {
    if (this.stopped) return
    this.dirty = true
    if (this.running || this.delay) return
    this.delay = setTimeout(() => {
      this.delay = null
      if (this.stopped) return
      this.running = this.run().finally(() => {
        this.running = null
        if (this.dirty && !this.stopped) this.wake()
      })
    }, this.options.minGapMs ?? 200)
    this.delay.unref?.()
  }

  private delay: ReturnType<typeof setTimeout> | null = null

  /**
   * What a reader of the log in this process read: the events right after `after`, in log order,
   * each below the read horizon (none: the reader is at `after`). Synchronous and cheap, so the
   * reader (delivery) never waits for the tree; a batch read again, or overlapping what came
   * before, is taken once.
   */
  feed(after: LogCursor, events: readonly LeafSource[]): void {
    if (this.stopped) return
    const known = this.known
    const end = known ? (known.leaves.at(-1) ?? known.after) : null
    let changed = false
    if (!known || !end || isAfter(after, end)) {
      // the first batch, or one after a gap: the tree reads what lies before it from the log
      changed = true
      this.known = { after, leaves: events.map(leafOf) }
    } else {
      for (const e of events) {
        if (!isAfter(e, known.leaves.at(-1) ?? known.after)) continue
        known.leaves.push(leafOf(e))
        changed = true
      }
    }
    const leaves = this.known!.leaves
    if (leaves.length > MAX_KNOWN) {
      const drop = leaves.length - MAX_KNOWN / 2
      this.known = { after: cursorOf(leaves[drop - 1]!), leaves: leaves.slice(drop) }
    }
    if (changed) this.wake()
  }

  /** Resolves when no turn is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    if (this.delay) clearTimeout(this.delay)
    this.unsubscribe?.()
    await this.idle()
  }

  /**
   * One turn now: extends the tree to the log's horizon, then issues a checkpoint if due
   * (`force`: whatever the interval). Returns the checkpoint issued, if any.
   */
  async turn(force = false): Promise<StoredCheckpoint | null> {
    const { sql, signer, hash, checkpointIntervalMs } = this.options
    const size = await this.extend()
    if (!signer) return null
    const now = this.clock()
    if (!force) {
      // most turns have nothing to sign: tell without a transaction (the issuer checks again)
      const latest = await latestCheckpoint(sql)
      const due = !latest || now.getTime() - Date.parse(latest.issuedAt) >= checkpointIntervalMs
      if (!due || (latest && size !== 0 && size <= latest.treeSize)) return null
    }
    return issueCheckpoint(sql, signer, {
      now,
      minIntervalMs: force ? 0 : checkpointIntervalMs,
      hash,
    })
  }

  /** Extends the tree (from the feed, for a fed keeper); the tree's size, or 0 if unknown. */
  private async extend(): Promise<number> {
    const { sql, hash, batchSize, fed } = this.options
    if (!fed) return (await extendTree(sql, { hash, batchSize })).size
    const known = this.known
    if (!known) return 0
    const result = await extendTree(sql, { hash, batchSize, known })
    this.counts.read += result.read
    this.counts.fed += result.added - result.read
    // what the tree now holds is dropped (the feed may have grown meanwhile: only the front goes)
    const head = result.head
    const current = this.known
    if (head && current && !isAfter(current.after, head)) {
      const leaves = current.leaves
      let keep = 0
      while (keep < leaves.length && !isAfter(leaves[keep]!, head)) keep++
      this.known = { after: head, leaves: keep > 0 ? leaves.slice(keep) : leaves }
    }
    return result.size
  }

  private async run(): Promise<void> {
    this.dirty = false
    try {
      const issued = await this.turn()
      if (issued) this.options.log.debug('audit checkpoint issued', { treeSize: issued.treeSize })
    } catch (error) {
      if (this.stopped) return
      logTurnFailure(this.options.log, error, {
        unavailable: 'audit tree: database unavailable; retrying on the next wake-up',
        failed: 'audit tree turn failed; retrying on the next wake-up',
      })
    }
  }
}

const leafOf = (e: LeafSource): LeafSource => ({
  transactionId: e.transactionId,
  position: e.position,
  hash: e.hash,
})

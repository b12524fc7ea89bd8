import { readHorizon } from '../eventstore/append-lock.ts'
import { isAfter, type LogCursor } from '../eventstore/event-store.ts'
import type { Queryable, Sql, Tx } from '../eventstore/sql.ts'
import {
  consistencyRanges,
  defaultSha256,
  EMPTY_ROOT,
  eventLeafHash,
  foldRange,
  inclusionRanges,
  type NodeId,
  nodeHash,
  type Range,
  rangeNodes,
  type Sha256,
  TreeFrontier,
  type TreeNode,
} from './merkle.ts'

/**
 * The audit Merkle tree in the database (migrations/040_audit_tree.sql): one leaf per event in
 * log order, stored in tiles of 16 hashes (every complete subtree at a height that is a multiple
 * of 4), extended after commit under a lease; proofs are read from the tiles (O(log n) small
 * rows, one query) and the nodes in between recomputed.
 */

export type TreeHead = { size: number; cursor: LogCursor }

/** The tree lease: one builder at a time across processes (a transaction advisory lock). */
export const takeTreeLease = async (tx: Tx) => {
  const [row] = await tx<{ ok: boolean }[]>`
    select pg_try_advisory_xact_lock(hashtext(current_schema() || ':audit-tree')) as ok`
  return row!.ok
}

export async function readTreeHead(sql: Queryable): Promise<TreeHead> {
  const [row] = await sql<{ size: string; transaction_id: string; position: string }[]>`
    select size, last_transaction_id::text as transaction_id, last_position as position
    from audit_tree_head`
  return {
    size: Number(row!.size),
    cursor: { transactionId: row!.transaction_id, position: Number(row!.position) },
  }
}

/** What a leaf is made of: an event's place in the log and its hash. */
export type LeafSource = { transactionId: string; position: number; hash: string }

/**
 * Leaves a reader of the log in this process already read (its log follower, or the fan-out
 * relay): exactly the events that come right after `after` in log order, each below a read
 * horizon (final), so the tree can take them without reading `events` again.
 */
export type KnownLeaves = { after: LogCursor; leaves: LeafSource[] }

export type ExtendOptions = {
  /** Events per transaction: short transactions, so the builder never holds readers back. */
  batchSize?: number
  hash?: Sha256
  /** Stop after this many events (default: until the tree has caught up with the log). */
  maxEvents?: number
  /**
   * Extend from these leaves instead of reading the log: only what lies between the tree's head
   * and `known.after` is read from `events`, and the tree goes no further than the last known
   * leaf.
   */
  known?: KnownLeaves
}

export type ExtendResult = {
  /** Leaves added by this call. */
  added: number
  /** Of them, those read from `events` (the rest were known). */
  read: number
  size: number
  /** The tree's head after the call (null when the lease was not had). */
  head: LogCursor | null
  /** False when another process held the lease (it is extending the tree). */
  leased: boolean
}

/**
 * Adds the events committed since the tree's head, in log order, only from transactions older
 * than every running one (as the log followers read), so a leaf never needs to move. Each batch
 * is one transaction under the lease; a process that does not get the lease returns at once.
 */
export async function extendTree(sql: Sql, options: ExtendOptions = {}): Promise<ExtendResult> {
  const { batchSize = 10_000, hash = defaultSha256, maxEvents = Number.POSITIVE_INFINITY } = options
  let added = 0
  let read = 0
  let size = 0
  let head: LogCursor | null = null
  for (;;) {
    const limit = Math.min(batchSize, maxEvents - added)
    if (limit <= 0) return { added, read, size, head, leased: true }
    const step = await sql.begin((tx) => extendOnce(tx, limit, hash, options.known))
    if (step === null) return { added, read, size, head, leased: false }
    added += step.added
    read += step.read
    size = step.size
    head = step.head
    if (step.added < limit) return { added, read, size, head, leased: true }
  }
}

async function extendOnce(tx: Tx, limit: number, hash: Sha256, known?: KnownLeaves) {
  if (!(await takeTreeLease(tx))) return null
  const head = await readTreeHead(tx)
  const { rows, read } = known
    ? await leavesFrom(tx, head.cursor, known, limit)
    : await fromLog(tx, head.cursor, limit)
  if (rows.length === 0) return { added: 0, read: 0, size: head.size, head: head.cursor }

  const edgeIds = TreeFrontier.edgeOf(head.size)
  const node = await readNodes(tx, edgeIds, hash)
  const frontier = new TreeFrontier(
    hash,
    head.size,
    edgeIds.map((id) => ({ ...id, hash: node(id) })),
  )
  const tiles = new TileWriter()
  for (const row of rows) {
    tiles.add(row.position, frontier.add(eventLeafHash(row.position, row.hash, hash)))
  }
  const leaves = tiles.rows(0)
  const upper = tiles.rows(1)
  const last = rows.at(-1)!
  // a partial tile grows: its new hashes (and positions) are appended to the stored row
  await tx`
    insert into audit_tree_tiles (level, index, hashes, positions, min_position, max_position)
    select 0, index, decode(hashes, 'hex'), string_to_array(positions, ',')::bigint[],
      min_position, max_position
    from unnest(${leaves.indexes}::bigint[], ${leaves.hashes}::text[], ${leaves.positions}::text[],
      ${leaves.min}::bigint[], ${leaves.max}::bigint[])
      as u(index, hashes, positions, min_position, max_position)
    on conflict (level, index) do update set
      hashes = audit_tree_tiles.hashes || excluded.hashes,
      positions = audit_tree_tiles.positions || excluded.positions,
      min_position = least(audit_tree_tiles.min_position, excluded.min_position),
      max_position = greatest(audit_tree_tiles.max_position, excluded.max_position)`
  if (upper.indexes.length) {
    await tx`
      insert into audit_tree_tiles (level, index, hashes)
      select level, index, decode(hashes, 'hex')
      from unnest(${upper.levels}::smallint[], ${upper.indexes}::bigint[], ${upper.hashes}::text[])
        as u(level, index, hashes)
      on conflict (level, index) do update set hashes = audit_tree_tiles.hashes || excluded.hashes`
  }
  await tx`
    update audit_tree_head set size = ${frontier.size},
      last_transaction_id = ${last.transactionId}::xid8, last_position = ${last.position}`
  return {
    added: rows.length,
    read,
    size: frontier.size,
    head: { transactionId: last.transactionId, position: last.position },
  }
}

/**
 * The events after `after` in log order, from `events`: up to `until` (a cursor some reader
 * reached, so every row up to it is final), else below this log's read horizon.
 */
async function readLeaves(
  tx: Tx,
  after: LogCursor,
  limit: number,
  until?: LogCursor,
): Promise<LeafSource[]> {
  // below this log's read horizon, read in a statement before the read (see append-lock.ts)
  const horizon = until ? '18446744073709551615' : await readHorizon(tx)
  // the xid is read as text under another name: `order by` must sort the xid8 column itself (an
  // output column named transaction_id would sort as text, "10" before "9", and skip events)
  const rows = await tx<{ position: string; xid: string; hash: string }[]>`
    select position, transaction_id::text as xid, hash from events
    where (transaction_id, position) > (${after.transactionId}::xid8, ${after.position}::bigint)
      and (transaction_id, position) <= (${until?.transactionId ?? '18446744073709551615'}::xid8,
        ${until?.position ?? Number.MAX_SAFE_INTEGER}::bigint)
      and transaction_id < ${horizon}::xid8
    order by transaction_id, position
    limit ${limit}`
  return rows.map((r) => ({ transactionId: r.xid, position: Number(r.position), hash: r.hash }))
}

async function fromLog(tx: Tx, head: LogCursor, limit: number) {
  const rows = await readLeaves(tx, head, limit)
  return { rows, read: rows.length }
}

/**
 * The next leaves after the tree's head, taken from `known`; what lies between the head and the
 * known leaves is read from `events` first. A head that is not where the known leaves say (it
 * cannot be, unless the tables were changed by hand) is followed from `events`.
 */
async function leavesFrom(tx: Tx, head: LogCursor, known: KnownLeaves, limit: number) {
  if (isAfter(known.after, head)) {
    const gap = await readLeaves(tx, head, limit, known.after)
    if (gap.length === limit) return { rows: gap, read: gap.length }
    return { rows: gap.concat(known.leaves.slice(0, limit - gap.length)), read: gap.length }
  }
  const start = firstAfter(known, head)
  if (start === null) return fromLog(tx, head, limit)
  return { rows: known.leaves.slice(start, start + limit), read: 0 }
}

/**
 * The index of the first known leaf after `head` (which is `known.after` or one of the leaves,
 * or after them all: then the length); null if `head` falls between two of them.
 */
function firstAfter(known: KnownLeaves, head: LogCursor): number | null {
  const { leaves } = known
  if (sameCursor(known.after, head)) return 0
  // the leaves are in log order: the first one after the head, by bisection
  let lo = 0
  let hi = leaves.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (isAfter(leaves[mid]!, head)) hi = mid
    else lo = mid + 1
  }
  if (lo === leaves.length) return lo
  return lo > 0 && sameCursor(leaves[lo - 1]!, head) ? lo : null
}

const sameCursor = (a: LogCursor, b: LogCursor) =>
  a.position === b.position && a.transactionId === b.transactionId

/** Tile geometry: a tile holds 2^4 nodes of one tree height that is a multiple of 4. */
const TILE_HEIGHT = 4
const TILE_WIDTH = 2 ** TILE_HEIGHT

/** Collects the hashes a batch adds to each tile, in order. */
class TileWriter {
  private readonly tiles = new Map<string, { level: number; index: number; hashes: Uint8Array[] }>()
  private readonly positions = new Map<number, number[]>()

  /** A new leaf at `position` and the subtrees it completed (itself first). */
  add(position: number, completed: TreeNode[]) {
    for (const n of completed) {
      if (n.level % TILE_HEIGHT !== 0) continue
      const level = n.level / TILE_HEIGHT
      const index = Math.floor(n.index / TILE_WIDTH)
      const key = `${level}:${index}`
      let tile = this.tiles.get(key)
      if (!tile) {
        tile = { level, index, hashes: [] }
        this.tiles.set(key, tile)
        if (level === 0) this.positions.set(index, [])
      }
      tile.hashes.push(n.hash)
      if (level === 0) this.positions.get(index)!.push(position)
    }
  }

  /** The rows of level 0 (with positions) or of every level above it. */
  rows(which: 0 | 1) {
    const out = {
      levels: [] as number[],
      indexes: [] as number[],
      hashes: [] as string[],
      positions: [] as string[],
      min: [] as number[],
      max: [] as number[],
    }
    for (const tile of this.tiles.values()) {
      if ((tile.level === 0) !== (which === 0)) continue
      out.levels.push(tile.level)
      out.indexes.push(tile.index)
      out.hashes.push(toHex(tile.hashes))
      if (tile.level === 0) {
        const positions = this.positions.get(tile.index)!
        out.positions.push(positions.join(','))
        out.min.push(Math.min(...positions))
        out.max.push(Math.max(...positions))
      }
    }
    return out
  }
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** The hashes concatenated, as hex (what `decode(…, 'hex')` reads back as one bytea). */
function toHex(hashes: Uint8Array[]): string {
  const parts: string[] = []
  for (const h of hashes) for (let i = 0; i < h.length; i++) parts.push(HEX_PAIRS[h[i]!]!)
  return parts.join('')
}

const key = (id: NodeId) => `${id.level}:${id.index}`

/**
 * Reads the tiles that hold the given nodes, in one query, and returns the hash of any node
 * they cover: a node at a tile height is read as is; one in between is recomputed from the at
 * most 8 hashes below it in one tile.
 */
export async function readNodes(
  sql: Queryable,
  ids: NodeId[],
  hash: Sha256 = defaultSha256,
): Promise<(id: NodeId) => Uint8Array> {
  const tileOf = (id: NodeId) => {
    const below = id.level % TILE_HEIGHT
    const first = id.index * 2 ** below
    return { level: (id.level - below) / TILE_HEIGHT, index: Math.floor(first / TILE_WIDTH) }
  }
  const wanted = new Map<string, { level: number; index: number }>()
  for (const id of ids) {
    const tile = tileOf(id)
    wanted.set(key(tile), tile)
  }
  const tiles = new Map<string, Uint8Array>()
  if (wanted.size) {
    const list = [...wanted.values()]
    const rows = await sql<{ level: number; index: string; hashes: Uint8Array }[]>`
      select level, index, hashes from audit_tree_tiles
      where (level, index) in (
        select * from unnest(${list.map((t) => t.level)}::smallint[], ${list.map((t) => t.index)}::bigint[]))`
    for (const r of rows) tiles.set(`${r.level}:${r.index}`, new Uint8Array(r.hashes))
  }
  return (id) => {
    const tile = tileOf(id)
    const bytes = tiles.get(key(tile))
    const below = id.level % TILE_HEIGHT
    const span = 2 ** below
    const offset = (id.index * span) % TILE_WIDTH
    if (!bytes || bytes.length < (offset + span) * 32) {
      throw new Error(`audit tree node ${key(id)} is missing: the tree tables were altered`)
    }
    let layer: Uint8Array[] = []
    for (let i = offset; i < offset + span; i++) layer.push(bytes.subarray(i * 32, i * 32 + 32))
    while (layer.length > 1) {
      const up: Uint8Array[] = []
      for (let i = 0; i < layer.length; i += 2) up.push(nodeHash(layer[i]!, layer[i + 1]!, hash))
      layer = up
    }
    return layer[0]!
  }
}

/** Reads the hashes of the given ranges (each a subtree of the RFC 9162 tree) in one query. */
async function rangeHashes(sql: Queryable, ranges: Range[], hash: Sha256) {
  const perRange = ranges.map(([start, end]) => rangeNodes(start, end))
  const node = await readNodes(sql, perRange.flat(), hash)
  return perRange.map((ids) => foldRange(ids.map(node), hash))
}

/** A proof asked of sizes the tree does not have (a bad request). */
export class TreeSizeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TreeSizeError'
  }
}

/** The event at this position is not (yet) a leaf of the tree. */
export class NotInTreeError extends Error {
  constructor(readonly position: number) {
    super(`The event at position ${position} is not in the audit tree (no such event, or not yet)`)
    this.name = 'NotInTreeError'
  }
}

/** The root hash of the tree at `size` (at most the current size). */
export async function rootAt(sql: Queryable, size: number, hash = defaultSha256) {
  if (size === 0) return EMPTY_ROOT
  const [root] = await rangeHashes(sql, [[0, size]], hash)
  return root!
}

export type InclusionProof = {
  position: number
  leafIndex: number
  treeSize: number
  leafHash: Uint8Array
  /** The audit path, leaf first (RFC 9162 2.1.3.1). */
  hashes: Uint8Array[]
  rootHash: Uint8Array
}

/** The inclusion proof of the event at `position` in the tree of `treeSize` leaves. */
export async function inclusionProof(
  sql: Queryable,
  position: number,
  treeSize: number,
  hash = defaultSha256,
): Promise<InclusionProof> {
  const [row] = await sql<{ leaf_index: string | null; size: string }[]>`
    select (
        select index * ${TILE_WIDTH} + array_position(positions, ${position}::bigint) - 1
        from audit_tree_tiles
        where level = 0 and int8range(min_position, max_position, '[]') @> ${position}::bigint
          and positions @> array[${position}::bigint]
      ) as leaf_index,
      (select size from audit_tree_head) as size`
  if (row!.leaf_index === null) throw new NotInTreeError(position)
  const leafIndex = Number(row!.leaf_index)
  const size = Number(row!.size)
  if (treeSize > size) throw new TreeSizeError(`The tree has ${size} leaves, not ${treeSize}`)
  if (leafIndex >= treeSize) {
    throw new TreeSizeError(
      `The event at position ${position} is leaf ${leafIndex}: not in a tree of ${treeSize} leaves`,
    )
  }
  const ranges = inclusionRanges(leafIndex, treeSize)
  const all = await rangeHashes(sql, [[leafIndex, leafIndex + 1], [0, treeSize], ...ranges], hash)
  return {
    position,
    leafIndex,
    treeSize,
    leafHash: all[0]!,
    rootHash: all[1]!,
    hashes: all.slice(2),
  }
}

export type ConsistencyProof = {
  from: number
  to: number
  fromRoot: Uint8Array
  toRoot: Uint8Array
  /** RFC 9162 2.1.4.1; empty when `from` is 0 or equals `to`. */
  hashes: Uint8Array[]
}

/** The consistency proof between the trees of `from` and `to` leaves. */
export async function consistencyProof(
  sql: Queryable,
  from: number,
  to: number,
  hash = defaultSha256,
): Promise<ConsistencyProof> {
  if (from > to) throw new TreeSizeError(`from (${from}) is larger than to (${to})`)
  const { size } = await readTreeHead(sql)
  if (to > size) throw new TreeSizeError(`The tree has ${size} leaves, not ${to}`)
  const ranges = from > 0 && from < to ? consistencyRanges(from, to) : []
  const roots: Range[] = [
    [0, from],
    [0, to],
  ]
  const all = await rangeHashes(sql, [...roots.filter(([, end]) => end > 0), ...ranges], hash)
  const fromRoot = from === 0 ? EMPTY_ROOT : all.shift()!
  const toRoot = to === 0 ? EMPTY_ROOT : all.shift()!
  return { from, to, fromRoot, toRoot, hashes: all }
}

import { bytesToHex } from '@noble/hashes/utils.js'
import type { LogCursor } from '../eventstore/event-store.ts'
import type { Queryable, Sql, Tx } from '../eventstore/sql.ts'
import {
  consistencyRanges,
  defaultSha256,
  EMPTY_ROOT,
  foldRange,
  inclusionRanges,
  leafData,
  leafHash,
  type NodeId,
  type Range,
  rangeNodes,
  type Sha256,
  TreeFrontier,
} from './merkle.ts'

/**
 * The audit Merkle tree in the database (migrations/040_audit_tree.sql): one leaf per event in
 * log order, every complete subtree stored, extended after commit under a lease, and proofs
 * read from the stored nodes (O(log n) rows, one query).
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

export type ExtendOptions = {
  /** Events per transaction: short transactions, so the builder never holds readers back. */
  batchSize?: number
  hash?: Sha256
  /** Stop after this many events (default: until the tree has caught up with the log). */
  maxEvents?: number
}

export type ExtendResult = {
  /** Leaves added by this call. */
  added: number
  size: number
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
  let size = 0
  for (;;) {
    const limit = Math.min(batchSize, maxEvents - added)
    if (limit <= 0) return { added, size, leased: true }
    const step = await sql.begin((tx) => extendOnce(tx, limit, hash))
    if (step === null) return { added, size, leased: false }
    added += step.added
    size = step.size
    if (step.added < limit) return { added, size, leased: true }
  }
}

async function extendOnce(tx: Tx, limit: number, hash: Sha256) {
  if (!(await takeTreeLease(tx))) return null
  const head = await readTreeHead(tx)
  const rows = await tx<{ position: string; transaction_id: string; hash: string }[]>`
    select position, transaction_id::text as transaction_id, hash from events
    where (transaction_id, position) > (${head.cursor.transactionId}::xid8, ${head.cursor.position}::bigint)
      and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    order by transaction_id, position
    limit ${limit}`
  if (rows.length === 0) return { added: 0, size: head.size }

  const edgeIds = TreeFrontier.edgeOf(head.size)
  const stored = await readNodes(tx, edgeIds)
  const frontier = new TreeFrontier(
    hash,
    head.size,
    edgeIds.map((id) => ({ ...id, hash: nodeOf(stored, id) })),
  )
  const positions: string[] = []
  const leafIndexes: number[] = []
  const levels: number[] = []
  const indexes: number[] = []
  let hashes = ''
  for (const row of rows) {
    positions.push(row.position)
    leafIndexes.push(frontier.size)
    for (const node of frontier.add(leafHash(leafData(Number(row.position), row.hash), hash))) {
      levels.push(node.level)
      indexes.push(node.index)
      hashes += bytesToHex(node.hash)
    }
  }
  const last = rows.at(-1)!
  // one hex string for every hash, cut in SQL: far cheaper to send than an array of bytea
  await tx`
    insert into audit_tree_leaves (position, leaf_index)
    select * from unnest(${positions}::bigint[], ${leafIndexes}::bigint[])`
  await tx`
    insert into audit_tree_nodes (level, index, hash)
    select level, index, substring(h from (n - 1)::int * 32 + 1 for 32)
    from unnest(${levels}::smallint[], ${indexes}::bigint[]) with ordinality as u(level, index, n),
      (select decode(${hashes}, 'hex') as h) hashes`
  await tx`
    update audit_tree_head set size = ${frontier.size},
      last_transaction_id = ${last.transaction_id}::xid8, last_position = ${last.position}`
  return { added: rows.length, size: frontier.size }
}

const key = (id: NodeId) => `${id.level}:${id.index}`

/** Reads stored nodes by id, in one query. */
export async function readNodes(sql: Queryable, ids: NodeId[]): Promise<Map<string, Uint8Array>> {
  const found = new Map<string, Uint8Array>()
  if (ids.length === 0) return found
  const rows = await sql<{ level: number; index: string; hash: Uint8Array }[]>`
    select level, index, hash from audit_tree_nodes
    where (level, index) in (
      select * from unnest(${ids.map((i) => i.level)}::smallint[], ${ids.map((i) => i.index)}::bigint[]))`
  for (const r of rows) found.set(`${r.level}:${r.index}`, new Uint8Array(r.hash))
  return found
}

function nodeOf(nodes: Map<string, Uint8Array>, id: NodeId): Uint8Array {
  const hash = nodes.get(key(id))
  if (!hash) throw new Error(`audit tree node ${key(id)} is missing: the tree tables were altered`)
  return hash
}

/** Reads the hashes of the given ranges (each a subtree of the RFC 9162 tree) in one query. */
async function rangeHashes(sql: Queryable, ranges: Range[], hash: Sha256) {
  const perRange = ranges.map(([start, end]) => rangeNodes(start, end))
  const nodes = await readNodes(sql, perRange.flat())
  return perRange.map((ids) =>
    foldRange(
      ids.map((id) => nodeOf(nodes, id)),
      hash,
    ),
  )
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
    select (select leaf_index from audit_tree_leaves where position = ${position}) as leaf_index,
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

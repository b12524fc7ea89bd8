import type { Sql } from '../eventstore/sql.ts'
import type { Checkpoint } from './checkpoints.ts'
import {
  defaultSha256,
  equalBytes,
  eventLeafHash,
  type Sha256,
  TreeFrontier,
  verifyConsistency,
} from './merkle.ts'

/**
 * Rebuilds the audit tree from events in log order (an export, or the database read in log
 * order), keeping the roots at the sizes asked for up front and at the end: the offline half
 * of checking a checkpoint.
 */
export class TreeRebuilder {
  private readonly frontier: TreeFrontier
  private readonly wanted: Set<number>
  private readonly roots = new Map<number, Uint8Array>()
  /** The first event that could not be a leaf (no position or no chain hash), if any. */
  unusable: { line: number | undefined; why: string } | null = null

  constructor(
    sizes: number[],
    private readonly hash: Sha256 = defaultSha256,
  ) {
    this.frontier = new TreeFrontier(hash)
    this.wanted = new Set(sizes)
    if (this.wanted.has(0)) this.roots.set(0, this.frontier.root())
  }

  get leaves(): number {
    return this.frontier.size
  }

  add(position: number | null, chainHash: string, line?: number): void {
    if (position === null || !/^[0-9a-f]{64}$/.test(chainHash)) {
      this.unusable ??= { line, why: position === null ? 'no position' : 'no chain hash' }
      return
    }
    this.frontier.add(eventLeafHash(position, chainHash, this.hash))
    if (this.wanted.has(this.frontier.size)) {
      this.roots.set(this.frontier.size, this.frontier.root())
    }
  }

  /** The root after `size` leaves, if it was asked for up front (or is the current size). */
  rootAt(size: number): Uint8Array | null {
    if (size === this.frontier.size) return this.frontier.root()
    return this.roots.get(size) ?? null
  }
}

export type TreeFinding = { ok: boolean; message: string }

const describe = (c: Checkpoint) => `the checkpoint of ${c.treeSize} events (${c.issuedAt})`

/** Does the rebuilt tree hold exactly the history the checkpoint signed? */
export function checkAgainstCheckpoint(tree: TreeRebuilder, c: Checkpoint): TreeFinding {
  if (tree.unusable) {
    return {
      ok: false,
      message: `the event on line ${tree.unusable.line ?? '?'} cannot be a leaf of the tree (${tree.unusable.why})`,
    }
  }
  if (tree.leaves < c.treeSize) {
    return {
      ok: false,
      message: `the log holds ${tree.leaves} events, but ${describe(c)} commits to ${c.treeSize}: ${c.treeSize - tree.leaves} are missing (deleted events, a truncated export, or a filtered one)`,
    }
  }
  const root = tree.rootAt(c.treeSize)
  if (!root) return { ok: false, message: `no root was kept at size ${c.treeSize}` }
  if (!equalBytes(root, c.rootHash)) {
    return {
      ok: false,
      message: `the first ${c.treeSize} events do not hash to the root signed in ${describe(c)}: an event was deleted, inserted or reordered, or its position or chained hash changed (or the export is filtered)`,
    }
  }
  const later = tree.leaves - c.treeSize
  return {
    ok: true,
    message: `the first ${c.treeSize} events hash to the root signed in ${describe(c)}${later ? `; the ${later} later events are not covered by it` : ''}`,
  }
}

/** Does `later` extend `earlier`, judged from the roots of the rebuilt tree at both sizes? */
export function checkConsistencyFromTree(
  tree: TreeRebuilder,
  earlier: Checkpoint,
  later: Checkpoint,
): TreeFinding {
  if (earlier.treeSize > later.treeSize) {
    return { ok: false, message: 'the earlier checkpoint has the larger tree' }
  }
  for (const c of [earlier, later]) {
    const found = checkAgainstCheckpoint(tree, c)
    if (!found.ok) return found
  }
  return {
    ok: true,
    message: `${describe(later)} extends ${describe(earlier)}: both roots rebuilt from the same events`,
  }
}

/** Does `later` extend `earlier`, by an RFC 9162 consistency proof (hashes from the log)? */
export function checkConsistencyProof(
  earlier: Checkpoint,
  later: Checkpoint,
  proof: Uint8Array[],
  hash: Sha256 = defaultSha256,
): TreeFinding {
  const ok = verifyConsistency(
    earlier.treeSize,
    later.treeSize,
    earlier.rootHash,
    later.rootHash,
    proof,
    hash,
  )
  return ok
    ? {
        ok,
        message: `${describe(later)} extends ${describe(earlier)} (consistency proof verified)`,
      }
    : {
        ok,
        message: `${describe(later)} does not extend ${describe(earlier)}: the history before it was rewritten (or the proof is wrong)`,
      }
}

/**
 * Feeds every event of the database to the rebuilder in log order (one snapshot, through a
 * cursor): what `audit:verify --checkpoint` checks when it reads the database itself.
 */
export async function rebuildFromDatabase(
  sql: Sql,
  tree: TreeRebuilder,
  onProgress?: (events: number) => void,
): Promise<void> {
  const rows = sql<{ position: number; hash: string }[]>`
    select position::float8 as position, hash from events order by transaction_id, position`
  for await (const batch of rows.cursor(5000)) {
    for (const r of batch) tree.add(r.position, r.hash)
    onProgress?.(tree.leaves)
  }
}

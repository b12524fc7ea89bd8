-- The audit Merkle tree over the whole log (RFC 9162 hashing; docs/audit-format.md), extended
-- after commit by one process at a time (src/audit/merkle-tree.ts), never by an append.

-- The tree is stored in tiles, much as C2SP tlog-tiles does: tile (level L, index N) holds the
-- hashes of the tree's nodes at height 4·L with indexes [16·N, 16·N + 16), 32 bytes each, in
-- order; the last tile of each level is partial and grows. Nodes in between are recomputed from
-- at most 8 hashes of one tile, so a proof reads a few small rows, and the builder writes about
-- one row per 16 events instead of a row per node (two per event).
-- Level-0 tiles also keep the log position of each leaf: leaf order is log order, fixed once a
-- leaf is in the tree, and a position finds its leaf index through the range index below.
create table audit_tree_tiles (
  level smallint not null,
  index bigint not null,
  hashes bytea not null,
  positions bigint[],
  min_position bigint,
  max_position bigint,
  primary key (level, index)
);
create index audit_tree_tiles_positions on audit_tree_tiles
  using gist (int8range(min_position, max_position, '[]')) where level = 0;

-- The tree's size and the log cursor of its last leaf (where the builder resumes).
create table audit_tree_head (
  singleton boolean primary key default true check (singleton),
  size bigint not null,
  last_transaction_id xid8 not null,
  last_position bigint not null
);
insert into audit_tree_head (size, last_transaction_id, last_position) values (0, '0', 0);

-- Signed checkpoints (C2SP tlog-checkpoint notes), one per tree size.
create table audit_checkpoints (
  tree_size bigint primary key,
  root_hash bytea not null,
  issued_at timestamptz not null,
  key_id text not null,
  note text not null
);

-- The audit Merkle tree over the whole log (RFC 9162 hashing; docs/audit-format.md), extended
-- after commit by one process at a time (src/audit/merkle-tree.ts), never by an append.

-- Leaf order is log order, fixed once a leaf is in the tree: the leaf index of each position.
create table audit_tree_leaves (
  position bigint primary key,
  leaf_index bigint not null unique
);

-- Every complete subtree: level 0 holds the leaf hashes, level L the node over leaves
-- [index * 2^L, (index + 1) * 2^L). Any proof reads O(log n) of these rows.
create table audit_tree_nodes (
  level smallint not null,
  index bigint not null,
  hash bytea not null,
  primary key (level, index)
);

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

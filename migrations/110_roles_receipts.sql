-- Roles and delivery receipts (issue 12): per member, their role in the conversation and their
-- delivered marker (beside the read marker; read implies delivered, so views compare the
-- greater of the two).
alter table conversation_members
  add column role text not null default 'member',
  add column delivered_up_to_version integer not null default 0,
  add column delivered_up_to_message_id text,
  add column delivered_at timestamptz;

-- Groups started before roles: the creator, in since the start, owns it (as `roleOf` derives
-- for decision snapshots from before roles).
update conversation_members cm set role = 'owner'
from conversations c
where c.conversation_id = cm.conversation_id and c.kind = 'group'
  and cm.user_id = c.created_by and cm.joined_version = 1 and cm.left_version is null;

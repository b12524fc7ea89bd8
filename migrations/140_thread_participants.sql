-- Who takes part in which thread, and from which version of the conversation on (issue 11):
-- the root's sender from the root, everyone who replied or was mentioned in a reply from that
-- reply. A thread reply that is not also in the conversation counts toward the unread count of
-- exactly the members who took part in its thread by then.
create table thread_participants (
  conversation_id text not null,
  root_message_id text not null,
  user_id text not null,
  since_version integer not null,
  primary key (conversation_id, root_message_id, user_id)
);

-- Tasks keyed by their id first: a task is looked up by id (which agent owns it, who started
-- it), so the key serves that lookup and the separate index on task_id goes — one B-tree
-- fewer written at a random place for every task relayed. A principal's tasks at an agent
-- (ListTasks) get an index of their own, newest last.
CREATE TABLE a2a_tasks_by_id (
    task_id      TEXT NOT NULL,
    agent        TEXT NOT NULL,
    principal    TEXT NOT NULL,
    context_id   TEXT,
    trace_id     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (task_id, agent)
);
INSERT INTO a2a_tasks_by_id (task_id, agent, principal, context_id, trace_id, created_at)
    SELECT task_id, agent, principal, context_id, trace_id, created_at FROM a2a_tasks;
DROP TABLE a2a_tasks;
ALTER TABLE a2a_tasks_by_id RENAME TO a2a_tasks;
CREATE INDEX a2a_tasks_principal ON a2a_tasks (agent, principal, created_at);

-- Fewer rows and index entries per state change (the Start benchmark's hot path).

-- Running executions (Executing, Stopping) are found through one partial index that holds
-- only them, instead of two indexes over every execution ever run that each status change
-- rewrote: (status, lease_until) and (account, region, status).
DROP INDEX executions_lease;
DROP INDEX executions_running;
CREATE INDEX executions_active ON executions (account, region)
  WHERE status IN ('Executing', 'Stopping');

-- Events: one row per committed change of an execution, listing its transitions in order as
-- JSON [[step or null for the execution, attempt, from status, to status, at], ...], instead
-- of one row per transition (a step that starts and ends in one tick made three).
CREATE TABLE execution_events (
  id            {serial_pk},
  execution_arn TEXT NOT NULL,
  transitions   TEXT NOT NULL
);
CREATE INDEX execution_events_execution ON execution_events (execution_arn, id);
INSERT INTO execution_events (execution_arn, transitions)
  SELECT execution_arn, {json_array}({json_array}(step_name, attempt, from_status, to_status, at))
  FROM events ORDER BY id;
DROP TABLE events;

-- Callback messages on their way to SQS: written with the step state they announce, deleted
-- once SQS has taken them, so a message survives a crash or an unreachable queue.
CREATE TABLE callback_outbox (
  token         TEXT NOT NULL,
  kind          TEXT NOT NULL,
  execution_arn TEXT NOT NULL,
  queue_url     TEXT NOT NULL,
  message       TEXT NOT NULL,
  attempts      INTEGER NOT NULL,
  next_attempt  {real} NOT NULL,
  PRIMARY KEY (token, kind)
);
CREATE INDEX callback_outbox_due ON callback_outbox (next_attempt);
CREATE INDEX callback_outbox_execution ON callback_outbox (execution_arn);

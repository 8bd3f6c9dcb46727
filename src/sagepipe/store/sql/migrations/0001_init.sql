-- Portable schema: {serial_pk} and {real} are filled in per dialect by store/migrations.py.
-- Times are epoch seconds. JSON documents are stored as text.

CREATE TABLE pipelines (
  seq            {serial_pk},
  arn            TEXT NOT NULL UNIQUE,
  account        TEXT NOT NULL,
  region         TEXT NOT NULL,
  name           TEXT NOT NULL,
  display_name   TEXT,
  description    TEXT,
  role_arn       TEXT,
  parallelism    INTEGER,
  latest_version INTEGER NOT NULL,
  status         TEXT NOT NULL,
  created        {real} NOT NULL,
  modified       {real} NOT NULL,
  last_run       {real},
  created_by     TEXT,
  modified_by    TEXT
);
CREATE UNIQUE INDEX pipelines_name ON pipelines (account, region, name);
CREATE INDEX pipelines_scope ON pipelines (account, region, seq);

CREATE TABLE pipeline_versions (
  pipeline_arn   TEXT NOT NULL,
  version_id     INTEGER NOT NULL,
  definition     TEXT NOT NULL,
  display_name   TEXT,
  description    TEXT,
  pipeline_display_name TEXT,
  pipeline_description  TEXT,
  role_arn       TEXT,
  created        {real} NOT NULL,
  created_by     TEXT,
  last_execution_arn TEXT,
  PRIMARY KEY (pipeline_arn, version_id)
);

CREATE TABLE tags (
  resource_arn TEXT NOT NULL,
  key          TEXT NOT NULL,
  value        TEXT NOT NULL,
  position     INTEGER NOT NULL,
  PRIMARY KEY (resource_arn, key)
);

-- An idempotency token is claimed by inserting its row; a replay finds it and compares
-- the stored fingerprint (DESIGN: idempotency as a unique constraint).
CREATE TABLE request_tokens (
  account     TEXT NOT NULL,
  region      TEXT NOT NULL,
  operation   TEXT NOT NULL,
  token       TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  response    TEXT NOT NULL,
  created     {real} NOT NULL,
  PRIMARY KEY (account, region, operation, token)
);

CREATE TABLE executions (
  seq            {serial_pk},
  arn            TEXT NOT NULL UNIQUE,
  account        TEXT NOT NULL,
  region         TEXT NOT NULL,
  pipeline_arn   TEXT NOT NULL,
  exec_id        TEXT NOT NULL,
  version_id     INTEGER NOT NULL,
  status         TEXT NOT NULL,
  display_name   TEXT,
  description    TEXT,
  definition     TEXT NOT NULL,
  parameters     TEXT NOT NULL,
  parallelism    INTEGER,
  failure_reason TEXT,
  fail_step      TEXT,
  selective      TEXT,
  retry_count    INTEGER NOT NULL DEFAULT 0,
  created        {real} NOT NULL,
  modified       {real} NOT NULL,
  created_by     TEXT,
  modified_by    TEXT,
  owner          TEXT,
  lease_until    {real},
  epoch          INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX executions_id ON executions (exec_id);
CREATE INDEX executions_pipeline ON executions (pipeline_arn, seq);
CREATE INDEX executions_lease ON executions (status, lease_until);
CREATE INDEX executions_running ON executions (account, region, status);

-- One row per step, updated in place; attempts keep the history.
CREATE TABLE steps (
  execution_arn  TEXT NOT NULL,
  name           TEXT NOT NULL,
  step_type      TEXT NOT NULL,
  status         TEXT NOT NULL,
  attempt_count  INTEGER NOT NULL,
  manual_retry   INTEGER NOT NULL,
  run_attempts   INTEGER NOT NULL,
  first_start    {real} NOT NULL,
  started        {real} NOT NULL,
  ended          {real},
  next_run_at    {real},
  failure_reason TEXT,
  failure_type   TEXT,
  metadata       TEXT,
  properties     TEXT,
  outcome        INTEGER,
  cache_source   TEXT,
  selective_source TEXT,
  job            TEXT,
  PRIMARY KEY (execution_arn, name)
);

CREATE TABLE attempts (
  execution_arn  TEXT NOT NULL,
  name           TEXT NOT NULL,
  attempt        INTEGER NOT NULL,
  manual_retry   INTEGER NOT NULL,
  status         TEXT NOT NULL,
  started        {real} NOT NULL,
  ended          {real},
  failure_reason TEXT,
  metadata       TEXT,
  job            TEXT,
  PRIMARY KEY (execution_arn, name, attempt)
);

CREATE TABLE manual_retries (
  execution_arn TEXT NOT NULL,
  retry_no      INTEGER NOT NULL,
  token         TEXT NOT NULL,
  parallelism   INTEGER,
  created       {real} NOT NULL,
  PRIMARY KEY (execution_arn, retry_no)
);

CREATE TABLE callbacks (
  token         TEXT PRIMARY KEY,
  account       TEXT NOT NULL,
  region        TEXT NOT NULL,
  execution_arn TEXT NOT NULL,
  step_name     TEXT NOT NULL,
  attempt       INTEGER NOT NULL,
  status        TEXT NOT NULL,
  result        TEXT,
  message       TEXT NOT NULL,
  created       {real} NOT NULL
);
CREATE INDEX callbacks_execution ON callbacks (execution_arn, status);

CREATE TABLE step_cache (
  pipeline_arn  TEXT NOT NULL,
  cache_key     TEXT NOT NULL,
  execution_arn TEXT NOT NULL,
  step_name     TEXT NOT NULL,
  properties    TEXT NOT NULL,
  metadata      TEXT,
  job           TEXT,
  created       {real} NOT NULL,
  PRIMARY KEY (pipeline_arn, cache_key)
);

CREATE TABLE events (
  id            {serial_pk},
  execution_arn TEXT NOT NULL,
  step_name     TEXT,
  attempt       INTEGER,
  from_status   TEXT,
  to_status     TEXT NOT NULL,
  at            {real} NOT NULL
);
CREATE INDEX events_execution ON events (execution_arn, id);

-- Named queries. `-- name: x` starts a query; `x@postgres` overrides it for one dialect.
-- Parameters are written :name.

-- name: ping
SELECT 1 AS one

-- name: lock_scope
-- PostgreSQL only (Tx.lock_scope): SQLite's writes are serial already.
SELECT pg_advisory_xact_lock(hashtext(:scope)) IS NULL AS locked

------------------------------------------------------------------ request tokens
-- name: token_get
SELECT fingerprint, response FROM request_tokens
WHERE account = :account AND region = :region AND operation = :operation AND token = :token

-- name: token_put
INSERT INTO request_tokens (account, region, operation, token, fingerprint, response, created)
VALUES (:account, :region, :operation, :token, :fingerprint, :response, :now)
ON CONFLICT DO NOTHING

-- name: token_set_response
UPDATE request_tokens SET response = :response
WHERE account = :account AND region = :region AND operation = :operation AND token = :token

------------------------------------------------------------------ pipelines
-- name: pipeline_count
SELECT COUNT(*) AS n FROM pipelines WHERE account = :account AND region = :region

-- name: pipeline_insert
INSERT INTO pipelines (arn, account, region, name, display_name, description, role_arn,
  parallelism, latest_version, status, created, modified, created_by, modified_by)
VALUES (:arn, :account, :region, :name, :display_name, :description, :role_arn,
  :parallelism, 1, 'Active', :now, :now, :user, :user)
ON CONFLICT DO NOTHING

-- name: pipeline_get
SELECT * FROM pipelines WHERE account = :account AND region = :region AND name = :name

-- name: pipeline_with_version
-- StartPipelineExecution's read: the pipeline and the definition of the version to run (the
-- latest unless :version_id names one; definition NULL when that version does not exist).
SELECT p.arn, p.parallelism, p.latest_version, v.definition
FROM pipelines p LEFT JOIN pipeline_versions v
  ON v.pipeline_arn = p.arn AND v.version_id = COALESCE(:version_id, p.latest_version)
WHERE p.account = :account AND p.region = :region AND p.name = :name

-- name: pipeline_get_for_update
SELECT * FROM pipelines WHERE account = :account AND region = :region AND name = :name
-- name: pipeline_get_for_update@postgres
SELECT * FROM pipelines WHERE account = :account AND region = :region AND name = :name FOR UPDATE

-- name: pipeline_update
UPDATE pipelines SET display_name = :display_name, description = :description,
  role_arn = :role_arn, parallelism = :parallelism, latest_version = :latest_version,
  modified = :now, modified_by = :user
WHERE arn = :arn

-- name: pipeline_touch_run
UPDATE pipelines SET last_run = :now WHERE arn = :arn

-- name: pipeline_delete
DELETE FROM pipelines WHERE arn = :arn

-- name: pipeline_list
SELECT arn, name, display_name, description, role_arn, created, modified, last_run, seq
FROM pipelines
WHERE account = :account AND region = :region
  AND (:prefix IS NULL OR substr(name, 1, :prefix_len) = :prefix)
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:cursor_seq IS NULL OR (CASE WHEN :descending = 1 THEN seq < :cursor_seq ELSE seq > :cursor_seq END))
ORDER BY CASE WHEN :descending = 1 THEN -seq ELSE seq END
LIMIT :limit

-- name: pipeline_list_by_name
SELECT arn, name, display_name, description, role_arn, created, modified, last_run, seq
FROM pipelines
WHERE account = :account AND region = :region
  AND (:prefix IS NULL OR substr(name, 1, :prefix_len) = :prefix)
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:cursor_name IS NULL OR (CASE WHEN :descending = 1 THEN name < :cursor_name ELSE name > :cursor_name END))
ORDER BY CASE WHEN :descending = 1 THEN name END DESC, CASE WHEN :descending = 0 THEN name END ASC
LIMIT :limit

-- name: pipeline_list_by_name@postgres
-- Code point order (COLLATE "C"), as on SQLite: a database with a linguistic default
-- collation would otherwise sort (and page) names differently.
SELECT arn, name, display_name, description, role_arn, created, modified, last_run, seq
FROM pipelines
WHERE account = :account AND region = :region
  AND (:prefix IS NULL OR substr(name, 1, :prefix_len) = :prefix)
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:cursor_name IS NULL OR (CASE WHEN :descending = 1
       THEN name COLLATE "C" < :cursor_name ELSE name COLLATE "C" > :cursor_name END))
ORDER BY CASE WHEN :descending = 1 THEN name END COLLATE "C" DESC,
  CASE WHEN :descending = 0 THEN name END COLLATE "C" ASC
LIMIT :limit

------------------------------------------------------------------ pipeline versions
-- name: version_insert
INSERT INTO pipeline_versions (pipeline_arn, version_id, definition, display_name, description,
  pipeline_display_name, pipeline_description, role_arn, created, created_by)
VALUES (:pipeline_arn, :version_id, :definition, :display_name, :description,
  :pipeline_display_name, :pipeline_description, :role_arn, :now, :user)

-- name: version_get
SELECT * FROM pipeline_versions WHERE pipeline_arn = :pipeline_arn AND version_id = :version_id

-- name: version_update
UPDATE pipeline_versions SET display_name = :display_name, description = :description
WHERE pipeline_arn = :pipeline_arn AND version_id = :version_id

-- name: version_set_last_execution
UPDATE pipeline_versions SET last_execution_arn = :execution_arn
WHERE pipeline_arn = :pipeline_arn AND version_id = :version_id

-- name: version_list
SELECT version_id, created, display_name, description, last_execution_arn
FROM pipeline_versions
WHERE pipeline_arn = :pipeline_arn
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:cursor IS NULL OR (CASE WHEN :descending = 1 THEN version_id < :cursor ELSE version_id > :cursor END))
ORDER BY CASE WHEN :descending = 1 THEN -version_id ELSE version_id END
LIMIT :limit

-- name: versions_delete
DELETE FROM pipeline_versions WHERE pipeline_arn = :pipeline_arn

------------------------------------------------------------------ tags
-- name: tags_list
SELECT key, value, position FROM tags WHERE resource_arn = :arn
  AND (:cursor IS NULL OR position > :cursor)
ORDER BY position LIMIT :limit

-- name: tags_max_position
SELECT COALESCE(MAX(position), 0) AS n, COUNT(*) AS count FROM tags WHERE resource_arn = :arn

-- name: tag_upsert
INSERT INTO tags (resource_arn, key, value, position) VALUES (:arn, :key, :value, :position)
ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value

-- name: tag_delete
DELETE FROM tags WHERE resource_arn = :arn AND key = :key

-- name: tags_delete_all
DELETE FROM tags WHERE resource_arn = :arn

------------------------------------------------------------------ executions
-- name: running_count
SELECT COUNT(*) AS n FROM executions
WHERE account = :account AND region = :region AND status IN ('Executing', 'Stopping')

-- name: pipeline_running_count
SELECT COUNT(*) AS n FROM executions
WHERE pipeline_arn = :pipeline_arn AND status IN ('Executing', 'Stopping')

-- name: execution_insert
-- The definition snapshot is the version's (versions never change): kept out of this row, so
-- updating an execution (a retry, a status change) never rewrites a large definition.
-- Every query that returns an execution's `definition` reads it from pipeline_versions.
-- No row: the id was drawn twice (arns.new_execution_id); the caller draws another.
INSERT INTO executions (arn, account, region, pipeline_arn, exec_id, version_id, status,
  display_name, description, definition, parameters, parallelism, selective, created, modified,
  created_by, modified_by, owner, lease_until, epoch)
VALUES (:arn, :account, :region, :pipeline_arn, :exec_id, :version_id, 'Executing',
  :display_name, :description, '', :parameters, :parallelism, :selective, :now, :now,
  :user, :user, :owner, :lease_until, 1)
ON CONFLICT DO NOTHING

-- name: execution_get
SELECT e.seq, e.arn, e.account, e.region, e.pipeline_arn, e.exec_id, e.version_id, e.status,
  e.display_name, e.description, v.definition, e.parameters, e.parallelism, e.failure_reason,
  e.fail_step, e.selective, e.retry_count, e.created, e.modified, e.created_by, e.modified_by,
  e.owner, e.lease_until, e.epoch
FROM executions e JOIN pipeline_versions v
  ON v.pipeline_arn = e.pipeline_arn AND v.version_id = e.version_id
WHERE e.arn = :arn

-- name: execution_get_by_id
SELECT e.seq, e.arn, e.account, e.region, e.pipeline_arn, e.exec_id, e.version_id, e.status,
  e.display_name, e.description, v.definition, e.parameters, e.parallelism, e.failure_reason,
  e.fail_step, e.selective, e.retry_count, e.created, e.modified, e.created_by, e.modified_by,
  e.owner, e.lease_until, e.epoch
FROM executions e JOIN pipeline_versions v
  ON v.pipeline_arn = e.pipeline_arn AND v.version_id = e.version_id
WHERE e.exec_id = :exec_id

-- name: execution_summary
SELECT arn, account, region, pipeline_arn, exec_id, version_id, status, display_name,
  description, parallelism, failure_reason, fail_step, selective, retry_count, created,
  modified, created_by, modified_by
FROM executions WHERE arn = :arn

-- name: execution_update_info
UPDATE executions SET display_name = :display_name, description = :description,
  parallelism = :parallelism, modified = :now, modified_by = :user
WHERE arn = :arn

-- name: execution_request_stop
UPDATE executions SET status = 'Stopping', modified = :now, modified_by = :user
WHERE arn = :arn AND status = 'Executing'

-- name: execution_retry
UPDATE executions SET status = 'Executing', failure_reason = NULL, fail_step = NULL,
  parallelism = :parallelism, retry_count = retry_count + 1, modified = :now,
  modified_by = :user, owner = :owner, lease_until = :lease_until, epoch = epoch + 1
WHERE arn = :arn AND status = :expected_status

-- name: executions_delete_for_pipeline
DELETE FROM executions WHERE pipeline_arn = :pipeline_arn

-- name: pipeline_delete_steps
DELETE FROM steps WHERE execution_arn IN (SELECT arn FROM executions WHERE pipeline_arn = :pipeline_arn)

-- name: pipeline_delete_attempts
DELETE FROM attempts WHERE execution_arn IN (SELECT arn FROM executions WHERE pipeline_arn = :pipeline_arn)

-- name: pipeline_delete_manual_retries
DELETE FROM manual_retries WHERE execution_arn IN (SELECT arn FROM executions WHERE pipeline_arn = :pipeline_arn)

-- name: pipeline_delete_outbox
DELETE FROM callback_outbox WHERE execution_arn IN (SELECT arn FROM executions WHERE pipeline_arn = :pipeline_arn)

-- name: pipeline_delete_callbacks
DELETE FROM callbacks WHERE execution_arn IN (SELECT arn FROM executions WHERE pipeline_arn = :pipeline_arn)

-- name: pipeline_delete_events
DELETE FROM execution_events WHERE execution_arn IN (SELECT arn FROM executions WHERE pipeline_arn = :pipeline_arn)

-- name: step_cache_delete
DELETE FROM step_cache WHERE pipeline_arn = :pipeline_arn

-- name: executions_arns_for_pipeline
SELECT arn FROM executions WHERE pipeline_arn = :pipeline_arn

-- name: event_insert
INSERT INTO execution_events (execution_arn, transitions) VALUES (:execution_arn, :transitions)

------------------------------------------------------------------ engine
-- name: execution_driver_state
SELECT status, parallelism, retry_count, epoch, stop_jobs FROM executions WHERE arn = :arn

-- name: execution_stop_jobs
SELECT stop_jobs FROM executions WHERE arn = :arn
-- name: execution_stop_jobs@postgres
SELECT stop_jobs FROM executions WHERE arn = :arn FOR UPDATE

-- name: attempt_stopping
UPDATE attempts SET status = 'Stopping'
WHERE execution_arn = :execution_arn AND name = :name AND attempt = :attempt
  AND status IN ('Starting', 'Executing')

-- name: execution_set_stop_jobs
UPDATE executions SET stop_jobs = :stop_jobs WHERE arn = :arn

-- name: execution_keep_stop_jobs
-- The requests whose jobs still run (asked again after a restart), if none came since.
UPDATE executions SET stop_jobs = :stop_jobs WHERE arn = :execution_arn AND stop_jobs = :seen

-- name: execution_for_driver
SELECT e.seq, e.arn, e.account, e.region, e.pipeline_arn, e.exec_id, e.version_id, e.status,
  e.display_name, e.description, v.definition, e.parameters, e.parallelism, e.failure_reason,
  e.fail_step, e.selective, e.retry_count, e.created, e.modified, e.created_by, e.modified_by,
  e.owner, e.lease_until, e.epoch, p.parallelism AS pipeline_parallelism
FROM executions e JOIN pipeline_versions v
  ON v.pipeline_arn = e.pipeline_arn AND v.version_id = e.version_id
JOIN pipelines p ON p.arn = e.pipeline_arn
WHERE e.arn = :arn

-- name: steps_for_execution
SELECT * FROM steps WHERE execution_arn = :execution_arn

-- name: execution_fence
UPDATE executions
SET status = :new_status, modified = CASE WHEN status <> :new_status THEN :now ELSE modified END
WHERE arn = :arn AND epoch = :epoch AND status = :status

-- name: execution_fence_end
-- The fence of a tick that ends the execution, with why it ended.
UPDATE executions
SET status = :new_status, modified = :now, failure_reason = :failure_reason,
  fail_step = :fail_step
WHERE arn = :arn AND epoch = :epoch AND status = :status

-- name: step_upsert
INSERT INTO steps (execution_arn, name, step_type, status, attempt_count, manual_retry,
  run_attempts, first_start, started, ended, next_run_at, failure_reason, failure_type, metadata,
  properties, outcome, cache_source, selective_source, job)
VALUES (:execution_arn, :name, :step_type, :status, :attempt_count, :manual_retry,
  :run_attempts, :first_start, :started, :ended, :next_run_at, :failure_reason, :failure_type,
  :metadata, :properties, :outcome, :cache_source, :selective_source, :job)
ON CONFLICT (execution_arn, name) DO UPDATE SET
  status = excluded.status, attempt_count = excluded.attempt_count,
  manual_retry = excluded.manual_retry, run_attempts = excluded.run_attempts,
  first_start = excluded.first_start, started = excluded.started, ended = excluded.ended,
  next_run_at = excluded.next_run_at, failure_reason = excluded.failure_reason,
  failure_type = excluded.failure_type, metadata = excluded.metadata,
  properties = excluded.properties, outcome = excluded.outcome,
  cache_source = excluded.cache_source, selective_source = excluded.selective_source,
  job = excluded.job

-- name: attempt_insert
INSERT INTO attempts (execution_arn, name, attempt, manual_retry, status, started, ended,
  failure_reason, job, metadata, job_scope, job_arn)
VALUES (:execution_arn, :name, :attempt, :manual_retry, :status, :started, :ended,
  :failure_reason, :job, :metadata, :job_scope, :job_arn)
ON CONFLICT DO NOTHING

-- name: attempt_end
-- A job that starts (Starting -> Executing) after a Stop*Job marked it Stopping stays Stopping.
UPDATE attempts SET status = CASE WHEN status = 'Stopping' AND :status = 'Executing' THEN status
  ELSE :status END, ended = :ended, failure_reason = :failure_reason,
  metadata = COALESCE(:metadata, metadata)
WHERE execution_arn = :execution_arn AND name = :name AND attempt = :attempt

-- name: callback_insert
INSERT INTO callbacks (token, account, region, execution_arn, step_name, attempt, status,
  message, created)
VALUES (:token, :account, :region, :execution_arn, :step_name, :attempt, 'Waiting', :message, :now)

-- name: outbox_insert
INSERT INTO callback_outbox (token, kind, execution_arn, queue_url, message, attempts,
  next_attempt)
VALUES (:token, :kind, :execution_arn, :queue_url, :message, 0, :next_attempt)
ON CONFLICT (token, kind) DO NOTHING

-- name: outbox_due
SELECT o.token, o.kind, o.queue_url, o.message, o.attempts, o.next_attempt,
  c.status AS callback_status
FROM callback_outbox o LEFT JOIN callbacks c ON c.token = o.token
WHERE o.next_attempt <= :now ORDER BY o.next_attempt LIMIT :limit

-- name: outbox_claim
UPDATE callback_outbox SET attempts = attempts + 1, next_attempt = :next_attempt
WHERE token = :token AND kind = :kind AND next_attempt = :seen

-- name: outbox_delete
DELETE FROM callback_outbox WHERE token = :token AND kind = :kind

-- name: callback_answers
SELECT token, step_name, attempt, status, result FROM callbacks
WHERE execution_arn = :execution_arn AND status IN ('Succeeded', 'Failed')

-- name: callback_applied
UPDATE callbacks SET status = 'Applied' WHERE token = :token

-- name: callback_get
SELECT * FROM callbacks WHERE token = :token AND account = :account AND region = :region

-- name: callback_answer
UPDATE callbacks SET status = :status, result = :result WHERE token = :token AND status = 'Waiting'

-- name: cache_get
SELECT * FROM step_cache WHERE pipeline_arn = :pipeline_arn AND cache_key = :cache_key

-- name: cache_put
INSERT INTO step_cache (pipeline_arn, cache_key, execution_arn, step_name, properties, metadata,
  job, created)
VALUES (:pipeline_arn, :cache_key, :execution_arn, :step_name, :properties, :metadata, :job, :now)
ON CONFLICT (pipeline_arn, cache_key) DO UPDATE SET execution_arn = excluded.execution_arn,
  step_name = excluded.step_name, properties = excluded.properties,
  metadata = excluded.metadata, job = excluded.job, created = excluded.created

-- name: executions_claim_all
UPDATE executions SET owner = :owner, lease_until = :lease_until, epoch = epoch + 1
WHERE status IN ('Executing', 'Stopping')
RETURNING arn

-- name: executions_claim_expired
UPDATE executions SET owner = :owner, lease_until = :lease_until, epoch = epoch + 1
WHERE status IN ('Executing', 'Stopping') AND (owner IS NULL OR lease_until < :now)
RETURNING arn

-- name: execution_take
UPDATE executions SET epoch = epoch + 1, lease_until = :lease_until
WHERE arn = :arn AND owner = :owner AND status IN ('Executing', 'Stopping')

-- name: executions_owned
SELECT arn FROM executions WHERE owner = :owner AND status IN ('Executing', 'Stopping')

-- name: executions_release
UPDATE executions SET owner = NULL, lease_until = NULL
WHERE owner = :owner AND status IN ('Executing', 'Stopping')

-- name: executions_heartbeat
UPDATE executions SET lease_until = :lease_until
WHERE owner = :owner AND status IN ('Executing', 'Stopping')

-- name: execution_list_desc
SELECT arn, status, display_name, description, failure_reason, created, seq
FROM executions
WHERE pipeline_arn = :pipeline_arn
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:cursor IS NULL OR seq < :cursor)
ORDER BY seq DESC
LIMIT :limit

-- name: execution_list_asc
SELECT arn, status, display_name, description, failure_reason, created, seq
FROM executions
WHERE pipeline_arn = :pipeline_arn
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:cursor IS NULL OR seq > :cursor)
ORDER BY seq ASC
LIMIT :limit

-- name: steps_page_desc
SELECT * FROM steps WHERE execution_arn = :execution_arn
  AND (:cursor_started IS NULL OR started < :cursor_started
       OR (started = :cursor_started AND name > :cursor_name))
ORDER BY started DESC, name ASC
LIMIT :limit

-- name: steps_page_asc
SELECT * FROM steps WHERE execution_arn = :execution_arn
  AND (:cursor_started IS NULL OR started > :cursor_started
       OR (started = :cursor_started AND name > :cursor_name))
ORDER BY started ASC, name ASC
LIMIT :limit

-- name: steps_insert_reused
INSERT INTO steps (execution_arn, name, step_type, status, attempt_count, manual_retry,
  run_attempts, first_start, started, ended, metadata, properties, outcome, selective_source, job)
SELECT :execution_arn, name, step_type, 'Succeeded', attempt_count, 0, 0, first_start, started,
  ended, metadata, properties, outcome, :source_arn, job
FROM steps WHERE execution_arn = :source_arn AND status = 'Succeeded'
  AND name = :name

-- name: execution_lock
-- Retry's and Stop's read, locked: only what their checks need, never the definition.
SELECT arn, account, region, status, fail_step, parallelism, retry_count, created
FROM executions WHERE arn = :arn
-- name: execution_lock@postgres
SELECT arn, account, region, status, fail_step, parallelism, retry_count, created
FROM executions WHERE arn = :arn FOR UPDATE

-- name: manual_retry_insert
INSERT INTO manual_retries (execution_arn, retry_no, token, parallelism, created)
VALUES (:execution_arn, :retry_no, :token, :parallelism, :now)

-- name: manual_retries_for_execution
SELECT retry_no, token, parallelism, created FROM manual_retries
WHERE execution_arn = :execution_arn ORDER BY retry_no

-- name: attempts_for_execution
SELECT * FROM attempts WHERE execution_arn = :execution_arn ORDER BY started, name, attempt

-- name: fault_rules_get
SELECT document, version FROM fault_rules WHERE id = 1

-- name: fault_rules_put
INSERT INTO fault_rules (id, document, version) VALUES (1, :document, 1)
ON CONFLICT (id) DO UPDATE SET document = excluded.document, version = fault_rules.version + 1

-- The jobs behind the steps (providers/jobs.py). A job is one attempt row; its step row says
-- whether it is the step's current attempt, whose properties are the step's.
-- name: job_by_arn
SELECT a.execution_arn, a.name, a.attempt, a.status, a.started, a.ended, a.failure_reason,
  a.job, a.job_arn, s.attempt_count, s.properties, s.status AS step_status, s.step_type
FROM attempts a JOIN steps s ON s.execution_arn = a.execution_arn AND s.name = a.name
WHERE a.job_scope = :scope AND a.job_arn = :arn

-- name: jobs_by_created_desc
SELECT a.execution_arn, a.name, a.attempt, a.status, a.started, a.ended, a.failure_reason,
  a.job, a.job_arn
FROM attempts a
WHERE a.job_scope = :scope
  AND (:after IS NULL OR a.started > :after) AND (:before IS NULL OR a.started < :before)
  AND (:modified_after IS NULL OR COALESCE(a.ended, a.started) > :modified_after)
  AND (:modified_before IS NULL OR COALESCE(a.ended, a.started) < :modified_before)
  AND (:contains IS NULL OR a.job_arn LIKE :contains ESCAPE '!')
  AND (:status1 IS NULL OR a.status IN (:status1, :status2))
  AND (:cursor_key IS NULL OR a.started < :cursor_key
       OR (a.started = :cursor_key AND a.job_arn < :cursor_arn))
ORDER BY a.started DESC, a.job_arn DESC
LIMIT :limit

-- name: jobs_by_created_asc
SELECT a.execution_arn, a.name, a.attempt, a.status, a.started, a.ended, a.failure_reason,
  a.job, a.job_arn
FROM attempts a
WHERE a.job_scope = :scope
  AND (:after IS NULL OR a.started > :after) AND (:before IS NULL OR a.started < :before)
  AND (:modified_after IS NULL OR COALESCE(a.ended, a.started) > :modified_after)
  AND (:modified_before IS NULL OR COALESCE(a.ended, a.started) < :modified_before)
  AND (:contains IS NULL OR a.job_arn LIKE :contains ESCAPE '!')
  AND (:status1 IS NULL OR a.status IN (:status1, :status2))
  AND (:cursor_key IS NULL OR a.started > :cursor_key
       OR (a.started = :cursor_key AND a.job_arn > :cursor_arn))
ORDER BY a.started ASC, a.job_arn ASC
LIMIT :limit

-- name: jobs_by_name_desc
SELECT a.execution_arn, a.name, a.attempt, a.status, a.started, a.ended, a.failure_reason,
  a.job, a.job_arn
FROM attempts a
WHERE a.job_scope = :scope
  AND (:after IS NULL OR a.started > :after) AND (:before IS NULL OR a.started < :before)
  AND (:modified_after IS NULL OR COALESCE(a.ended, a.started) > :modified_after)
  AND (:modified_before IS NULL OR COALESCE(a.ended, a.started) < :modified_before)
  AND (:contains IS NULL OR a.job_arn LIKE :contains ESCAPE '!')
  AND (:status1 IS NULL OR a.status IN (:status1, :status2))
  AND (:cursor_arn IS NULL OR a.job_arn < :cursor_arn)
ORDER BY a.job_arn DESC
LIMIT :limit

-- name: jobs_by_name_asc
SELECT a.execution_arn, a.name, a.attempt, a.status, a.started, a.ended, a.failure_reason,
  a.job, a.job_arn
FROM attempts a
WHERE a.job_scope = :scope
  AND (:after IS NULL OR a.started > :after) AND (:before IS NULL OR a.started < :before)
  AND (:modified_after IS NULL OR COALESCE(a.ended, a.started) > :modified_after)
  AND (:modified_before IS NULL OR COALESCE(a.ended, a.started) < :modified_before)
  AND (:contains IS NULL OR a.job_arn LIKE :contains ESCAPE '!')
  AND (:status1 IS NULL OR a.status IN (:status1, :status2))
  AND (:cursor_arn IS NULL OR a.job_arn > :cursor_arn)
ORDER BY a.job_arn ASC
LIMIT :limit

-- Status order is the model's names' (Completed, Failed, InProgress, Stopped, Stopping): the
-- rank below. No index serves it; the scope's rows are sorted.
-- name: jobs_by_status_desc
SELECT a.execution_arn, a.name, a.attempt, a.status, a.started, a.ended, a.failure_reason,
  a.job, a.job_arn, (CASE a.status WHEN 'Succeeded' THEN 0 WHEN 'Failed' THEN 1 WHEN 'Stopped' THEN 3 WHEN 'Stopping' THEN 4 ELSE 2 END) AS status_rank
FROM attempts a
WHERE a.job_scope = :scope
  AND (:after IS NULL OR a.started > :after) AND (:before IS NULL OR a.started < :before)
  AND (:modified_after IS NULL OR COALESCE(a.ended, a.started) > :modified_after)
  AND (:modified_before IS NULL OR COALESCE(a.ended, a.started) < :modified_before)
  AND (:contains IS NULL OR a.job_arn LIKE :contains ESCAPE '!')
  AND (:status1 IS NULL OR a.status IN (:status1, :status2))
  AND (:cursor_rank IS NULL OR (CASE a.status WHEN 'Succeeded' THEN 0 WHEN 'Failed' THEN 1 WHEN 'Stopped' THEN 3 WHEN 'Stopping' THEN 4 ELSE 2 END) < :cursor_rank
       OR ((CASE a.status WHEN 'Succeeded' THEN 0 WHEN 'Failed' THEN 1 WHEN 'Stopped' THEN 3 WHEN 'Stopping' THEN 4 ELSE 2 END) = :cursor_rank AND (a.started < :cursor_key
           OR (a.started = :cursor_key AND a.job_arn < :cursor_arn))))
ORDER BY status_rank DESC, a.started DESC, a.job_arn DESC
LIMIT :limit

-- Status order is the model's names' (Completed, Failed, InProgress, Stopped, Stopping): the
-- rank below. No index serves it; the scope's rows are sorted.
-- name: jobs_by_status_asc
SELECT a.execution_arn, a.name, a.attempt, a.status, a.started, a.ended, a.failure_reason,
  a.job, a.job_arn, (CASE a.status WHEN 'Succeeded' THEN 0 WHEN 'Failed' THEN 1 WHEN 'Stopped' THEN 3 WHEN 'Stopping' THEN 4 ELSE 2 END) AS status_rank
FROM attempts a
WHERE a.job_scope = :scope
  AND (:after IS NULL OR a.started > :after) AND (:before IS NULL OR a.started < :before)
  AND (:modified_after IS NULL OR COALESCE(a.ended, a.started) > :modified_after)
  AND (:modified_before IS NULL OR COALESCE(a.ended, a.started) < :modified_before)
  AND (:contains IS NULL OR a.job_arn LIKE :contains ESCAPE '!')
  AND (:status1 IS NULL OR a.status IN (:status1, :status2))
  AND (:cursor_rank IS NULL OR (CASE a.status WHEN 'Succeeded' THEN 0 WHEN 'Failed' THEN 1 WHEN 'Stopped' THEN 3 WHEN 'Stopping' THEN 4 ELSE 2 END) > :cursor_rank
       OR ((CASE a.status WHEN 'Succeeded' THEN 0 WHEN 'Failed' THEN 1 WHEN 'Stopped' THEN 3 WHEN 'Stopping' THEN 4 ELSE 2 END) = :cursor_rank AND (a.started > :cursor_key
           OR (a.started = :cursor_key AND a.job_arn > :cursor_arn))))
ORDER BY status_rank ASC, a.started ASC, a.job_arn ASC
LIMIT :limit

------------------------------------------------------------------ registry
-- Models, model packages and model package groups (migration 0006).
-- name: registry_get
SELECT arn, scope, name, group_arn, version, last_version, approval, created, document,
  execution_arn
FROM registry WHERE arn = :arn

-- name: registry_insert
INSERT INTO registry (arn, scope, name, name_key, sort_name, group_arn, version, last_version,
  approval, created, document, execution_arn)
VALUES (:arn, :scope, :name, :name_key, :sort_name, :group_arn, :version, :last_version,
  :approval, :now, :document, :execution_arn)
ON CONFLICT (arn) DO NOTHING

-- name: registry_next_version
UPDATE registry SET last_version = last_version + 1 WHERE arn = :arn
RETURNING last_version

-- name: registry_update
UPDATE registry SET document = :document, approval = :approval WHERE arn = :arn

-- name: registry_delete
DELETE FROM registry WHERE arn = :arn

-- name: registry_group_has_packages
SELECT 1 AS found FROM registry WHERE group_arn = :group_arn LIMIT 1

-- name: registry_by_created_asc
SELECT arn, name, group_arn, version, approval, created, document FROM registry
WHERE scope = :scope
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:contains IS NULL OR name_key LIKE :contains ESCAPE '!')
  AND (:group_arn IS NULL OR group_arn = :group_arn)
  AND (:versioned IS NULL OR (:versioned = 1 AND version IS NOT NULL)
       OR (:versioned = 0 AND version IS NULL))
  AND (:approval IS NULL OR approval = :approval)
  AND (:cursor_key IS NULL OR created > :cursor_key
       OR (created = :cursor_key AND arn > :cursor_arn))
ORDER BY created ASC, arn ASC
LIMIT :limit

-- name: registry_by_created_desc
SELECT arn, name, group_arn, version, approval, created, document FROM registry
WHERE scope = :scope
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:contains IS NULL OR name_key LIKE :contains ESCAPE '!')
  AND (:group_arn IS NULL OR group_arn = :group_arn)
  AND (:versioned IS NULL OR (:versioned = 1 AND version IS NOT NULL)
       OR (:versioned = 0 AND version IS NULL))
  AND (:approval IS NULL OR approval = :approval)
  AND (:cursor_key IS NULL OR created < :cursor_key
       OR (created = :cursor_key AND arn < :cursor_arn))
ORDER BY created DESC, arn DESC
LIMIT :limit

-- name: registry_by_name_asc
SELECT arn, name, group_arn, version, approval, created, document, sort_name FROM registry
WHERE scope = :scope
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:contains IS NULL OR name_key LIKE :contains ESCAPE '!')
  AND (:group_arn IS NULL OR group_arn = :group_arn)
  AND (:versioned IS NULL OR (:versioned = 1 AND version IS NOT NULL)
       OR (:versioned = 0 AND version IS NULL))
  AND (:approval IS NULL OR approval = :approval)
  AND (:cursor_name IS NULL OR sort_name > :cursor_name
       OR (sort_name = :cursor_name AND arn > :cursor_arn))
ORDER BY sort_name ASC, arn ASC
LIMIT :limit

-- name: registry_by_name_desc
SELECT arn, name, group_arn, version, approval, created, document, sort_name FROM registry
WHERE scope = :scope
  AND (:after IS NULL OR created > :after) AND (:before IS NULL OR created < :before)
  AND (:contains IS NULL OR name_key LIKE :contains ESCAPE '!')
  AND (:group_arn IS NULL OR group_arn = :group_arn)
  AND (:versioned IS NULL OR (:versioned = 1 AND version IS NOT NULL)
       OR (:versioned = 0 AND version IS NULL))
  AND (:approval IS NULL OR approval = :approval)
  AND (:cursor_name IS NULL OR sort_name < :cursor_name
       OR (sort_name = :cursor_name AND arn < :cursor_arn))
ORDER BY sort_name DESC, arn DESC
LIMIT :limit

------------------------------------------------------------------ console (docs/behaviour.md §15)
-- name: console_pipelines
SELECT arn, name, latest_version, created, last_run
FROM pipelines
WHERE account = :account AND region = :region AND (:after IS NULL OR name > :after)
ORDER BY name
LIMIT :limit

-- name: console_last_execution
SELECT exec_id, status, created FROM executions
WHERE pipeline_arn = :pipeline_arn ORDER BY seq DESC LIMIT 1

-- name: console_pipeline
SELECT arn, name, latest_version, created FROM pipelines
WHERE account = :account AND region = :region AND name = :name

-- name: console_executions
SELECT exec_id, arn, status, display_name, failure_reason, created, modified, retry_count, seq
FROM executions
WHERE pipeline_arn = :pipeline_arn AND (:status IS NULL OR status = :status)
  AND (:cursor IS NULL OR seq < :cursor)
ORDER BY seq DESC
LIMIT :limit

-- name: console_execution_count
SELECT COUNT(*) AS n FROM executions
WHERE pipeline_arn = :pipeline_arn AND (:status IS NULL OR status = :status)

-- name: console_step
SELECT step_type, status, attempt_count, metadata, properties, failure_reason, ended, job
FROM steps
WHERE execution_arn = :execution_arn AND name = :name

-- name: console_step_states
SELECT name, status, attempt_count, outcome, failure_reason, first_start, ended FROM steps
WHERE execution_arn = :execution_arn

-- The jobs behind the steps (docs/behaviour.md §13): each attempt of a Processing, Training or
-- Transform step is a job that Describe*/List*/Stop* find by ARN. The ARN's resource name is
-- the job name lower-cased (AWS looks names up without regard to case); the scope is the ARN
-- up to the '/', one per account, region and job kind. Only job attempts fill these columns,
-- so the partial indexes hold nothing else.
ALTER TABLE attempts ADD COLUMN job_scope TEXT;
ALTER TABLE attempts ADD COLUMN job_arn TEXT;
UPDATE attempts SET job_arn = {job_arn_of_attempt}
  WHERE job IS NOT NULL AND (
    {job_arn_of_attempt} LIKE 'arn:aws:sagemaker:%:processing-job/%'
    OR {job_arn_of_attempt} LIKE 'arn:aws:sagemaker:%:training-job/%'
    OR {job_arn_of_attempt} LIKE 'arn:aws:sagemaker:%:transform-job/%');
UPDATE attempts SET job_scope = {scope_of_job_arn} WHERE job_arn IS NOT NULL;
-- Stop*Job requests for an execution's jobs, [[step name, attempt], ...], until its driver
-- has asked their runners (it reads them with the rest of the execution's state).
ALTER TABLE executions ADD COLUMN stop_jobs TEXT;
CREATE INDEX attempts_job_name ON attempts (job_scope, job_arn) WHERE job_scope IS NOT NULL;
CREATE INDEX attempts_job_created ON attempts (job_scope, started, job_arn)
  WHERE job_scope IS NOT NULL;
-- A step cache hit copied its source's job: the job is listed once, under its first attempt.
UPDATE attempts SET job_scope = NULL, job_arn = NULL
  WHERE job_scope IS NOT NULL AND EXISTS (
    SELECT 1 FROM attempts first
    WHERE first.job_scope = attempts.job_scope AND first.job_arn = attempts.job_arn
      AND (first.started < attempts.started
           OR (first.started = attempts.started AND first.execution_arn < attempts.execution_arn)));

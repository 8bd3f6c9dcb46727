-- Models and the model registry (docs/behaviour.md §13): the models Model steps create, the
-- model packages RegisterModel steps create, and the model package groups that hold versioned
-- packages (made by CreateModelPackageGroup, or by the first RegisterModel step into a group
-- that does not exist yet). One table for the three: each row is a resource found by ARN and
-- listed by scope (the ARN up to its '/', one per account, region and kind); ARNs end in the
-- lower-cased name, as AWS's do, so lookups ignore case.
CREATE TABLE registry (
  arn           TEXT PRIMARY KEY,
  scope         TEXT NOT NULL,
  name          TEXT NOT NULL,     -- as first given
  name_key      TEXT NOT NULL,     -- lower-cased, for NameContains
  sort_name     TEXT NOT NULL,     -- name_key, then a versioned package's zero-padded version
  group_arn     TEXT,              -- a versioned package's group
  version       INTEGER,           -- a versioned package's version
  last_version  INTEGER,           -- a group's: versions handed out so far, never reused
  approval      TEXT,              -- a versioned package's ModelApprovalStatus
  created       {real} NOT NULL,
  document      TEXT NOT NULL,     -- the Describe* answer
  execution_arn TEXT               -- the execution whose step created it, if any
);
CREATE INDEX registry_created ON registry (scope, created, arn);
CREATE INDEX registry_sort_name ON registry (scope, sort_name, arn);
CREATE INDEX registry_group ON registry (group_arn, sort_name) WHERE group_arn IS NOT NULL;

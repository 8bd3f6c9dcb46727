-- The simulate runner's fault rules, shared by every server on the database.
CREATE TABLE fault_rules (
  id       INTEGER PRIMARY KEY,
  document TEXT NOT NULL,
  version  INTEGER NOT NULL
);

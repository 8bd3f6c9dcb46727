"""The S3-compatible object store that jobs read from and write to (docs/behaviour.md §11.4)."""

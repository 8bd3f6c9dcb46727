"""The `ray` runner: step work as Ray jobs (docs/behaviour.md §12)."""

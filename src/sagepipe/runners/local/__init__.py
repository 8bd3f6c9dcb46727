"""The `local` runner: a step's real code as local processes under SageMaker's container
contracts, each job in its own /opt/ml (docs/behaviour.md §11)."""

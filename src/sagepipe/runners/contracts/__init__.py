"""SageMaker's container contracts as pure functions: a job's resolved Arguments in, the plan
of its /opt/ml tree, command, environment and uploads out (docs/behaviour.md §11.3)."""

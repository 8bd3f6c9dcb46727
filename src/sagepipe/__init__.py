"""sagepipe: a self-hosted SageMaker Pipelines service."""

__version__ = "0.1.0"

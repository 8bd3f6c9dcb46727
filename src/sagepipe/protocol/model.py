"""The SageMaker service model, as botocore ships it, loaded once per process.

The wire contract (shapes, constraints, operation names) comes from botocore's own JSON so
that the service and the SDK clients can never disagree about it.
"""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel


@cache
def service_model() -> ServiceModel:
    # One JSON load (~60 ms); botocore caches the resolved shapes on the model itself.
    return botocore.session.get_session().get_service_model("sagemaker")


@cache
def _operation_names() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def operation(name: str) -> OperationModel | None:
    """The operation's model, or None when SageMaker has no operation of that name."""
    # Check membership first so that client-chosen names never grow any cache.
    if name not in _operation_names():
        return None
    return service_model().operation_model(name)  # memoised by botocore

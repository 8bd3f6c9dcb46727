"""The SageMaker service model, as botocore ships it, loaded once per process; and the three
CloudWatch Logs operations that serve job logs (docs/behaviour.md §13), from the Logs model.

The wire contract (shapes, constraints, operation names) comes from botocore's own JSON so
that the service and the SDK clients can never disagree about it.
"""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

# CloudWatch Logs operations served on the same port (target prefix Logs_20140328). SageMaker
# has no operation of these names, so one namespace of operation names serves both.
LOGS_OPERATIONS = frozenset({"DescribeLogStreams", "GetLogEvents", "FilterLogEvents"})


@cache
def service_model(service: str = "sagemaker") -> ServiceModel:
    # One JSON load (~60 ms); botocore caches the resolved shapes on the model itself.
    return botocore.session.get_session().get_service_model(service)


@cache
def _operation_names() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def operation(name: str) -> OperationModel | None:
    """The operation's model, or None when SageMaker has no operation of that name."""
    # Check membership first so that client-chosen names never grow any cache.
    if name in LOGS_OPERATIONS:
        return service_model("logs").operation_model(name)
    if name not in _operation_names():
        return None
    return service_model().operation_model(name)  # memoised by botocore


def shape_key(shape: Shape) -> str:
    """A shape's name, made unique across the two models: Logs has shapes of SageMaker's names
    with other constraints (NextToken). botocore keeps no service on a shape, only the
    resolver of the model it came from."""
    resolver = getattr(shape, "_shape_resolver", None)
    if resolver is not None and resolver is getattr(service_model("logs"), "_shape_resolver", 0):
        return "logs:" + shape.name
    return shape.name

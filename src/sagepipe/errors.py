"""Service errors. Each carries the wire code and HTTP status it maps to, so the edge
needs no translation table and providers stay HTTP-free."""


class ServiceError(Exception):
    code = "InternalFailure"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientError(ServiceError):
    status = 400


class ValidationError(ClientError):
    code = "ValidationException"


class ResourceNotFound(ClientError):
    code = "ResourceNotFound"


class ConflictError(ClientError):
    code = "ConflictException"


class ResourceLimitExceeded(ClientError):
    code = "ResourceLimitExceeded"


class ResourceInUse(ClientError):
    code = "ResourceInUse"


class UnknownOperation(ClientError):
    code = "UnknownOperationException"


class SerializationError(ClientError):
    code = "SerializationException"


class AccessDenied(ClientError):
    code = "AccessDeniedException"


# How AWS refuses a request whose signature does not hold (docs/behaviour.md §14).
class UnrecognizedClient(ClientError):
    code = "UnrecognizedClientException"


class InvalidSignature(ClientError):
    code = "InvalidSignatureException"


class IncompleteSignature(ClientError):
    code = "IncompleteSignatureException"


class MissingAuthenticationToken(ClientError):
    code = "MissingAuthenticationTokenException"


class PayloadTooLarge(ClientError):
    # AWS answers an oversized body with a 413 and this code.
    code = "RequestEntityTooLarge"
    status = 413


# CloudWatch Logs' own codes (the Logs_20140328 operations, providers/logs.py).
class LogsResourceNotFound(ClientError):
    code = "ResourceNotFoundException"


class InvalidParameter(ClientError):
    code = "InvalidParameterException"

"""Client SDK for the SAP BTP Provisioning Service API v1 (Kyma), for kymaprov or SAP's service.

    from kymaprov.client import Credentials, ProvisioningClient

    with ProvisioningClient(Credentials.from_file("cis-key.json")) as client:
        env = client.create_environment("my-kyma", "aws", "eu-central-1", user="me@example.com")
        env = client.wait_until_ready(env.id)
        binding = client.create_binding(env.id, expiration_seconds=3600)

``AsyncProvisioningClient`` has the same methods as coroutines.
"""

from kymaprov.client.aio import AsyncProvisioningClient
from kymaprov.client.auth import BearerAuth, ClientCredentialsAuth, Token
from kymaprov.client.credentials import Credentials, ProfileStore, default_profiles_path, resolve_credentials
from kymaprov.client.exceptions import (
    BadRequestError,
    ClientError,
    ConflictError,
    CredentialsError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    OperationFailed,
    ProvisioningError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnauthorizedError,
    WaitTimeout,
    error_from_response,
)
from kymaprov.client.models import (
    AvailableEnvironment,
    Binding,
    BindingMetadata,
    Environment,
    JobStatus,
    Labels,
    PlanAssignment,
)
from kymaprov.client.retry import RetryPolicy
from kymaprov.client.sync import ProvisioningClient

__all__ = [
    "AsyncProvisioningClient",
    "AvailableEnvironment",
    "BadRequestError",
    "BearerAuth",
    "Binding",
    "BindingMetadata",
    "ClientCredentialsAuth",
    "ClientError",
    "ConflictError",
    "Credentials",
    "CredentialsError",
    "Environment",
    "ForbiddenError",
    "GoneError",
    "JobStatus",
    "Labels",
    "NotFoundError",
    "OperationFailed",
    "PlanAssignment",
    "ProfileStore",
    "ProvisioningClient",
    "ProvisioningError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "Token",
    "TransportError",
    "UnauthorizedError",
    "WaitTimeout",
    "default_profiles_path",
    "error_from_response",
    "resolve_credentials",
]

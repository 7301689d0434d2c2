"""medembed client: embed images with a medembed encoder service over gRPC."""

from medembed_proto import Provenance
from medembed_proto.health import check_health
from medembed_proto.security import ChannelSecurity, SecurityError, security_from

from .aio import DEFAULT_TARGET, AsyncClient
from .client import Client
from .models import ModelInfo, ServerLimits, SpecInfo
from .results import EmbedError, EmbedResult, ItemError
from .retry import RetryPolicy

__all__ = ["DEFAULT_TARGET", "AsyncClient", "ChannelSecurity", "Client", "EmbedError", "EmbedResult", "ItemError",
           "ModelInfo", "Provenance", "RetryPolicy", "SecurityError", "ServerLimits", "SpecInfo", "check_health",
           "security_from"]

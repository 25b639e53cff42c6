"""embedframe: embed a pandas text column through an OpenAI-compatible embeddings endpoint.

``import embedframe`` registers the ``.embed`` accessor on DataFrame and Series.
"""

from . import accessor as _accessor  # noqa: F401  (registers df.embed and s.embed)
from ._engine import JobStats
from ._version import __version__
from .api import aembed, aembed_chunks, aembed_column, embed, embed_chunks, embed_column
from .config import EmbedConfig
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    EmbedFrameError,
    InputError,
    InputTypeError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResponseError,
    ServerError,
    TransportError,
)
from .models import MODELS, ModelInfo
from .vectors import from_numpy, to_numpy, vector_dtype

__all__ = [
    "MODELS",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigError",
    "EmbedConfig",
    "EmbedFrameError",
    "InputError",
    "InputTypeError",
    "JobStats",
    "ModelInfo",
    "NotFoundError",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseError",
    "ServerError",
    "TransportError",
    "__version__",
    "aembed",
    "aembed_chunks",
    "aembed_column",
    "embed",
    "embed_chunks",
    "embed_column",
    "from_numpy",
    "to_numpy",
    "vector_dtype",
]

"""embedframe: embed a pandas text column through an OpenAI-compatible embeddings endpoint.

``import embedframe`` registers the ``.embed`` accessor on DataFrame and Series.
"""

from . import accessor as _accessor  # noqa: F401  (registers df.embed and s.embed)
from . import dask as _dask  # noqa: F401  (ddf.embed once dask.dataframe is imported; never imports Dask)
from ._job.engine import JobStats
from ._version import __version__
from .api import aembed, aembed_chunks, aembed_column, embed, embed_chunks, embed_column
from .batch import BatchJob, BatchOptions, BatchStatus, abatch_job, asubmit, batch_job, submit
from .cache import VectorCache
from .config import EmbedConfig
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    BatchError,
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
    VectorSizeError,
)
from .estimate import Estimate, estimate
from .files import FileStats, aembed_file, embed_file, estimate_file
from .models import MODELS, ModelInfo, model_info, register_model
from .parquet import read_parquet, read_provenance, write_parquet
from .search import asearch, search
from .vectors import from_numpy, to_numpy, vector_dtype

__all__ = [
    "MODELS",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "BatchError",
    "BatchJob",
    "BatchOptions",
    "BatchStatus",
    "ConfigError",
    "EmbedConfig",
    "EmbedFrameError",
    "Estimate",
    "FileStats",
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
    "VectorCache",
    "VectorSizeError",
    "__version__",
    "abatch_job",
    "aembed",
    "aembed_chunks",
    "aembed_column",
    "aembed_file",
    "asearch",
    "asubmit",
    "batch_job",
    "embed",
    "embed_chunks",
    "embed_column",
    "embed_file",
    "estimate",
    "estimate_file",
    "from_numpy",
    "model_info",
    "read_parquet",
    "read_provenance",
    "register_model",
    "search",
    "submit",
    "to_numpy",
    "vector_dtype",
    "write_parquet",
]

"""Generation backends behind one protocol; each registers in ``BACKENDS`` and imports heavy SDKs lazily."""

from infimed.backends import hf, mock, openai, vllm  # noqa: F401  (register the backends)
from infimed.backends.base import BACKENDS, Backend, GenRequest, GenResult, SamplingParams

__all__ = ["BACKENDS", "Backend", "GenRequest", "GenResult", "SamplingParams"]

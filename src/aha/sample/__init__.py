"""A realistic SaaS event log with planted, documented effects (docs/sample.md): `aha sample` and the tests use it."""

from aha.sample.generator import SampleInfo, generate
from aha.sample.load import load_into

__all__ = ["SampleInfo", "generate", "load_into"]

"""Milestone definitions: the YAML format as pydantic models, with field-level errors and a content hash."""

from aha.definitions.errors import DefinitionError, DefinitionErrors
from aha.definitions.loader import content_hash, json_schema, load, milestone_hash, parse
from aha.definitions.models import Definitions, Milestone

__all__ = ["DefinitionError", "DefinitionErrors", "Definitions", "Milestone", "content_hash", "json_schema", "load",
           "milestone_hash", "parse"]

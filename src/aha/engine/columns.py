"""Column names used across the engine's expressions, defined once."""

ENTITY_TYPE = "entity_type"
ENTITY_ID = "entity_id"
EVENT_CODE = "event_code"
ENTITY_KEY = "entity_key"  # an integer per entity, for cheap joins and windows
MILESTONE_ID = "milestone_id"
T0 = "t0"
REACH_TIME = "reach_time"
PROGRESS = "progress"
APPLICABLE = "applicable"
STATUS = "status"
WINDOW_END = "window_end"
DEFINITION_HASH = "definition_hash"
SIGNUP_PROPERTIES = "signup_properties"
TRAITS = "traits"

PAID = "_paid"  # the paid event as a pseudo-milestone; user ids cannot start with "_", so it never collides
USER = "user"
ACCOUNT = "account"

REACHED = "reached"
IN_PROGRESS = "in_progress"
MISSED = "missed"
NOT_APPLICABLE = "not_applicable"


def reach_of(milestone_key: int) -> str:
    """Columns of the wide state (engine.state.state_query), per tracked milestone's position."""
    return f"reach_{milestone_key}"


def progress_of(milestone_key: int) -> str:
    return f"progress_{milestone_key}"


def applicable_of(milestone_key: int) -> str:
    return f"applicable_{milestone_key}"

SEGMENT = "segment"  # a breakdown's value in an analysis's rows (engine.segments)

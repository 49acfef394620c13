"""One error type for every mistake in a definitions file, so every surface reports it the same way."""

from __future__ import annotations

from collections.abc import Sequence

from aha.errors import UserError


def format_path(loc: Sequence[str | int]) -> str:
    """Turn pydantic's `("milestones", 2, "within")` into the YAML path a user reads: `milestones[2].within`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + (part if len(part) <= PART_SHOWN else part[: PART_SHOWN - 1] + "…")
    return out or "(top level)"


PART_SHOWN = 60  # a path part is a user's key: bounded, so a message never renders an unbounded value


class DefinitionError(UserError):
    """A user mistake in the definitions: where it is, what is wrong, and how to fix it."""

    def __init__(self, path: str, message: str, hint: str = "", source: str = "") -> None:
        self.path = path
        self.message = message
        self.hint = hint
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.source}: " if self.source else ""
        text = f"{where}{self.path}: {self.message}"
        if self.hint:
            text += f" {self.hint}"
        return text


MAX_SHOWN = 20  # mistakes listed in one message; a file of thousands of bad keys gets a count of the rest


class DefinitionErrors(DefinitionError):
    """Several mistakes found in one pass, so a user fixes them all at once rather than one per run."""

    def __init__(self, errors: Sequence[DefinitionError], more: int = 0) -> None:
        self.errors = list(errors)
        self.more = more  # mistakes found beyond `errors` (not translated into messages)
        first = self.errors[0]
        super().__init__(first.path, first.message, first.hint, first.source)

    def render(self) -> str:
        errors = getattr(self, "errors", [])
        shown = [e.render() for e in errors[:MAX_SHOWN]]
        rest = len(errors) - len(shown) + getattr(self, "more", 0)
        if rest:
            shown.append(f"… and {rest:,} more mistakes.")
        return "\n".join(shown) or super().render()

"""Nudge templates rendered in Jinja2's sandbox inside a child process bounded in time and memory.

A template comes from aha.yaml and is not trusted. The sandbox refuses Python internals (`''.__class__`), but it
does not bound work: `{{ 'a' * 10**9 }}` or `{{ ''|center(10**9) }}` allocate gigabytes in one operation, and two
nested `range(100000)` loops run for hours, so one template could stop delivery or exhaust the server's memory.
Rendering therefore happens in a child process (started once per delivery pass, on its first email) whose address
space is capped at MAX_MEMORY, and the parent waits at most MAX_SECONDS per template, then kills the child (a
template stopped so is refused at once for the rest of the pass, not waited for once per user). What is refused is
refused with one message naming the bound; the attempt fails with it, like a missing trait, and is retried later.
"""

from __future__ import annotations

import multiprocessing
import resource
from multiprocessing.pool import Pool
from typing import Any

MAX_RENDERED = 100_000  # characters of a rendered subject or body
MAX_SECONDS = 2.0  # a template renders in about a millisecond
MAX_MEMORY = 1024 * 2**20  # the child's address space: a Python with Jinja2 loaded takes about 40 MB of it
START_SECONDS = 60.0  # the child's start and its import of Jinja2, once per pass (slow on a loaded machine)


class TemplateRenderer:
    """Renders templates in one child process, started on first use; `close` (or `with`) stops it."""

    def __init__(self) -> None:
        self._pool: Pool | None = None
        self._stopped: dict[str, str] = {}  # template → why it was stopped: refused again at once in this pass

    def __enter__(self) -> TemplateRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self, text: str, context: dict[str, Any]) -> str:
        """The template filled from `context`; a missing name, a refused operation or a bound passed raises
        ValueError naming it."""
        if text in self._stopped:
            raise ValueError(self._stopped[text])
        pool = self._started()
        try:
            kind, value = pool.apply_async(_render_here, (text, context)).get(MAX_SECONDS)
        except multiprocessing.TimeoutError:
            self.close()  # the child may be in a loop that never ends: only killing it stops the loop
            self._stopped[text] = (f"template: rendering took longer than {MAX_SECONDS:g} s (a loop too long, or "
                                   "a value too large?); the template was stopped")
            raise ValueError(self._stopped[text]) from None
        if kind == "error":
            raise ValueError(value)
        return str(value)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def _started(self) -> Pool:
        if self._pool is None:
            pool = multiprocessing.get_context("spawn").Pool(1, initializer=_limit_memory)
            pool.apply_async(_warm).get(START_SECONDS)
            self._pool = pool
        return self._pool


def _limit_memory() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MAX_MEMORY if hard == resource.RLIM_INFINITY else min(MAX_MEMORY, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _warm() -> None:
    _environment()


_ENV: Any = None


def _environment() -> Any:
    global _ENV
    if _ENV is None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        _ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    return _ENV


def _render_here(text: str, context: dict[str, Any]) -> tuple[str, str]:
    """("ok", text) or ("error", message): runs in the child. The output is read part by part and stopped past
    MAX_RENDERED characters, so a long loop of small outputs never builds a huge string."""
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        parts: list[str] = []
        size = 0
        for part in _environment().from_string(text).generate(**context):
            size += len(part)
            if size > MAX_RENDERED:
                return "error", f"template: the rendered text is longer than {MAX_RENDERED:,} characters"
            parts.append(part)
        return "ok", "".join(parts)
    except UndefinedError as exc:
        return "error", f"template: {exc.message} (a trait the user does not have?)"
    except SecurityError as exc:
        return "error", f"template: refused by the sandbox: {exc}"
    except MemoryError:
        return "error", f"template: needs more than {MAX_MEMORY // 2**20:,} MB to render (a value too large?)"
    except RecursionError:
        return "error", "template: calls nested too deep (a macro calling itself?)"
    except TemplateSyntaxError as exc:
        return "error", f"template: line {exc.lineno}: {exc.message}"
    except Exception as exc:  # any other failure of a user's template is its message, never a traceback
        return "error", f"template: {type(exc).__name__}: {exc}"[:300]

"""Errors a caller of the engine can meet; each carries a message fit to show a person."""

from __future__ import annotations


class OpenKoiError(Exception):
    """Base for every error the engine raises on purpose."""


class ConfigError(OpenKoiError):
    """The configuration is invalid; the message names the file, the key and what was expected."""


class ModelNotFoundError(OpenKoiError):
    """A model name is unknown; ``suggestions`` holds close matches ("did you mean")."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown model '{name}'.{hint}")
        self.name = name
        self.suggestions = suggestions


class NoModelConfigured(OpenKoiError):
    """No provider credentials were found and no model was configured."""


class BudgetExceeded(OpenKoiError):
    """The next call would take the task past its token or cost budget."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind} budget exceeded: {detail}")
        self.kind = kind


class TaskTimeout(OpenKoiError):
    """The task's wall-clock budget ran out."""


class ModelCallError(OpenKoiError):
    """A model call failed after the retry policy gave up (or failed in a way retries cannot fix)."""


class StructuredOutputError(OpenKoiError):
    """The model's reply did not match the requested schema, even after one repair attempt."""

    def __init__(self, schema_name: str, detail: str) -> None:
        super().__init__(f"model reply for {schema_name} was not valid after a repair attempt: {detail}")
        self.schema_name = schema_name


class ToolLoopAbort(OpenKoiError):
    """The executor repeated an identical tool call past the circuit-breaker threshold."""


class NotFound(OpenKoiError):
    """No record matches an id or id prefix."""


class AmbiguousId(OpenKoiError):
    """An id prefix matches more than one record."""

    def __init__(self, prefix: str, matches: list[str]) -> None:
        super().__init__(f"id prefix '{prefix}' is ambiguous: {', '.join(matches[:5])}")
        self.matches = matches

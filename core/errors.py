"""Errors a caller of the engine can meet; each carries a message fit to show a person."""

from __future__ import annotations


class OpenKoiError(Exception):
    """Base for every error the engine raises on purpose."""


class ConfigError(OpenKoiError):
    """The configuration is invalid; the message names the file, the key and what was expected."""


class GateUnavailable(OpenKoiError):
    """The gate cannot screen a task (its ``[gate]`` configuration is wrong): the task does not run."""


class ModelNotFoundError(OpenKoiError):
    """A model name is unknown; ``suggestions`` holds close matches ("did you mean")."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown model '{name}'.{hint}")
        self.name = name
        self.suggestions = suggestions


class NoModelConfigured(OpenKoiError):
    """No provider credentials were found and no model was configured."""


class MissingCredentials(ConfigError):
    """The chosen provider's key is not set; ``variables`` names what to set."""

    def __init__(self, message: str, variables: tuple[str, ...]) -> None:
        super().__init__(message)
        self.variables = variables


class BudgetExceeded(OpenKoiError):
    """The next call would take the task past its token or cost budget."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind} budget exceeded: {detail}")
        self.kind = kind


class TaskTimeout(OpenKoiError):
    """The task's wall-clock budget ran out."""


class ModelCallError(OpenKoiError):
    """A model call failed after the retry policy gave up (or failed in a way retries cannot fix).

    The message is one clear sentence fit for a person (no provider boilerplate). ``unavailable``
    is True when the model cannot be used at all right now (unreachable, key rejected, unknown
    model, no answer, server down): the task fails with "model unavailable: …".
    """

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable

    def __str__(self) -> str:
        text = super().__str__()
        return f"model unavailable: {text}" if self.unavailable else f"model call failed: {text}"


class StructuredOutputError(OpenKoiError):
    """The model's reply did not match the requested schema, even after one repair attempt."""

    def __init__(self, schema_name: str, detail: str) -> None:
        super().__init__(f"the model's {schema_name} reply was not valid after a repair attempt: {detail}")
        self.schema_name = schema_name
        self.detail = detail


class ToolLoopAbort(OpenKoiError):
    """The executor repeated an identical tool call past the circuit-breaker threshold."""


class NotFound(OpenKoiError):
    """No record matches an id or id prefix."""


class AmbiguousId(OpenKoiError):
    """An id prefix matches more than one record."""

    def __init__(self, prefix: str, matches: list[str]) -> None:
        super().__init__(f"id prefix '{prefix}' is ambiguous: {', '.join(matches[:5])}")
        self.matches = matches

"""The configuration of acting: MCP servers (``[mcp_servers.<name>]``, shaped as Codex CLI's ``config.toml``
so people can paste what they have) and runbooks (``[runbooks.<name>]``).

    [mcp_servers.git]
    command = "mcp-server-git"                  # stdio: command, args, env, cwd
    args = ["--repository", "/srv/app"]
    [mcp_servers.tracker]
    url = "https://mcp.example.internal/mcp"    # streamable HTTP
    headers = { Authorization = "Bearer ${TRACKER_TOKEN}" }

    [runbooks.restart-worker]
    description = "Restart a background worker"
    command = ["systemctl", "restart", "worker@{name}"]
    params = { name = { pattern = "^[a-z0-9-]{1,32}$" } }
    domain = "deploy"
    effect = "write"

Values of ``env`` and ``headers`` may name variables (``${NAME}``); they are read when the server starts,
never stored in the settings, so a secret reaches neither the model nor a thread. The tool rules
(``[tools] allow / ask / deny``) live with the other tool settings in ``core.config``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from core.acting.action import Effect

# A server's or runbook's name becomes part of a tool name the model sees (``mcp__<server>__<tool>``).
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")]
# A ``{param}`` placeholder in a runbook's command: braces around a name. Other braces (``{}``, ``{'a': 1}``)
# are literal text, so a command such as ``["jq", "{}"]`` can be written as it is.
PLACEHOLDER = re.compile(r"\{([A-Za-z0-9][A-Za-z0-9_-]{0,47})\}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class McpServerSettings(_Section):
    """One MCP server: ``command`` (stdio) or ``url`` (streamable HTTP), exactly one of them."""

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    startup_timeout_sec: float = Field(10.0, gt=0, le=300)
    tool_timeout_sec: float = Field(60.0, gt=0, le=3600)
    enabled_tools: list[str] | None = None  # only these of the server's tools reach the model
    disabled_tools: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a stdio server) or url (a streamable HTTP server), not both")
        if self.url is not None and (self.args or self.env or self.cwd is not None):
            raise ValueError("args, env and cwd are for a stdio server (command); an HTTP server takes headers")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self


class RunbookParam(_Section):
    """One parameter of a runbook: its value must match ``pattern`` entirely."""

    pattern: str
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return pattern


class RunbookSettings(_Section):
    """A named action a team defines without writing a server: ``command`` is argv (never a shell), where
    ``{param}`` is replaced by the validated argument."""

    description: str = Field(min_length=1)
    command: list[str] = Field(min_length=1)
    params: dict[Name, RunbookParam] = Field(default_factory=dict)
    domain: str = Field(min_length=1)
    effect: Effect
    cwd: Path | None = None
    timeout_sec: float = Field(60.0, gt=0, le=3600)
    max_output_bytes: int = Field(64_000, ge=1_000, le=10_000_000)

    @model_validator(mode="after")
    def _placeholders_are_params(self) -> RunbookSettings:
        named = {name for part in self.command for name in PLACEHOLDER.findall(part)}
        unknown = sorted(named - set(self.params))
        if unknown:
            raise ValueError(f"command names {', '.join(unknown)} but params does not define it")
        return self

"""Where openkoi's logs go and how they look: text for people, JSON lines for log shippers.

Every record is redacted of the service's secrets as it is made (``core.secrets``); the formatters
redact the finished line once more, so nothing a formatter adds (a traceback) can carry a token.
Text lines of `openkoi serve` start with a UTC timestamp; `openkoi think` keeps its short lines.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal

from bots.chat import registry
from core.secrets import SECRETS, install_log_redaction

LEVELS = {"error": logging.ERROR, "warn": logging.WARNING, "warning": logging.WARNING, "info": logging.INFO,
          "debug": logging.DEBUG, "trace": logging.DEBUG}  # fmt: skip
# Libraries that are chatty below WARNING; shown at their own level only when tracing. Each chat platform's
# SDK loggers are added from its spec (``noisy``).
NOISY = ("LiteLLM", "litellm", "httpx", "httpcore", "openai", "aiosqlite")
TASKS_LOGGER = "openkoi.tasks"
# Attributes a record carries when it is about one task (see bots.chat.tasklog); JSON lines include them.
TASK_FIELDS = ("task_id", "event", "platform", "channel")
HANDLER_NAME = "openkoi"


class TextFormatter(logging.Formatter):
    def __init__(self, timestamps: bool) -> None:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if timestamps else "%(levelname)s %(name)s: %(message)s"
        super().__init__(fmt, datefmt="%Y-%m-%dT%H:%M:%S")
        self.converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{super().formatTime(record, datefmt)}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        return SECRETS.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, message, the task fields when
    the record has them, and the traceback as ``exc`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in TASK_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exc"] = record.exc_text or self.formatException(record.exc_info)
        return SECRETS.redact(json.dumps(line, ensure_ascii=False))


def configure(level: str, fmt: Literal["text", "json"] = "text", *, timestamps: bool = False) -> None:
    """Log to stderr at ``level`` (an OPENKOI_LOG_LEVEL name) in ``fmt``; third-party chatter stays at
    WARNING unless tracing. Replaces handlers an earlier call installed."""
    install_log_redaction()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(timestamps))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    if level != "trace":
        for noisy in noisy_loggers():
            logging.getLogger(noisy).setLevel(max(LEVELS[level], logging.WARNING))


def noisy_loggers() -> tuple[str, ...]:
    """The loggers kept at WARNING unless tracing: the libraries' and every registered platform SDK's. A broken
    platform plugin is reported where platforms are used (``openkoi serve``, ``doctor``), not here: logging for
    ``openkoi think`` must not depend on it."""
    try:
        specs = registry.platforms().values()
    except registry.PluginError:
        return NOISY
    return (*NOISY, *(name for spec in specs for name in spec.loggers))


def show_task_events(level: str) -> None:
    """The service's one-line-per-task-event log is shown at the default level too (not at "error")."""
    if LEVELS[level] > logging.INFO and LEVELS[level] <= logging.WARNING:
        logging.getLogger(TASKS_LOGGER).setLevel(logging.INFO)

"""Persistence: the only package that writes SQL. ``Store`` bundles the repositories."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from core.store.actions import ActionRepository
from core.store.confirmations import ConfirmationRepository
from core.store.conversations import ConversationRepository, InboundRepository
from core.store.cycles import CycleRepository
from core.store.db import Database, Opened
from core.store.deliberations import DeliberationRepository
from core.store.digests import DigestRepository
from core.store.feedback import FeedbackRepository
from core.store.gate_audit import AuditRepository
from core.store.intake import IntakeRepository
from core.store.memories import MemoryRepository
from core.store.proposals import ProposalRepository
from core.store.queue import QueueRepository
from core.store.schedule import ScheduleRepository
from core.store.skill_uses import SkillUseRepository
from core.store.task_events import TaskEventRepository
from core.store.task_pages import TaskPageRepository
from core.store.tasks import SessionRepository, TaskRepository
from core.store.tool_calls import ToolCallRepository
from core.store.transcripts import TranscriptRepository
from core.store.trust import TrustRepository
from core.store.usage import UsageRepository
from core.store.usage_events import UsageEventRepository
from core.store.vectors import VectorIndex
from core.store.webhooks import WebhookRepository
from core.store.world import WorldRepository


class Store(Opened):
    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.sessions = SessionRepository(self.db)
        self.tasks = TaskRepository(self.db)
        self.cycles = CycleRepository(self.db)
        self.deliberations = DeliberationRepository(self.db)
        self.confirmations = ConfirmationRepository(self.db)
        self.usage = UsageRepository(self.db)
        self.memories = MemoryRepository(self.db)
        self.transcripts = TranscriptRepository(self.db)
        # The derived vector index, on its own connection; opened by core.memory on first use.
        self.vectors = VectorIndex(path)
        self.inbound = InboundRepository(self.db)
        self.conversations = ConversationRepository(self.db)
        self.intake = IntakeRepository(self.db)
        self.queue = QueueRepository(self.db)
        self.skill_uses = SkillUseRepository(self.db)
        self.feedback = FeedbackRepository(self.db)
        self.usage_events = UsageEventRepository(self.db)
        self.proposals = ProposalRepository(self.db)
        self.digests = DigestRepository(self.db)
        self.schedule = ScheduleRepository(self.db)
        self.trust = TrustRepository(self.db)
        self.gate_audit = AuditRepository(self.db)
        self.actions = ActionRepository(self.db)
        self.tool_calls = ToolCallRepository(self.db)
        self.world = WorldRepository(self.db)
        self.webhooks = WebhookRepository(self.db)  # the outgoing webhooks' outbox (issue 18)
        # The HTTP API's: each task's stored events, and tasks a page at a time.
        self.task_events = TaskEventRepository(self.db)
        self.task_pages = TaskPageRepository(self.db)

    async def open(self) -> Self:
        await self.db.open()
        return self

    async def close(self) -> None:
        await self.vectors.close()
        await self.db.close()


__all__ = ["Database", "Store"]

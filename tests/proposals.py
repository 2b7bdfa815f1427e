"""A skill proposal as the tests draft it (the digests' cards and the decision tests both need one)."""

from __future__ import annotations

from core.store import Store
from core.store.proposals import Proposal

SKILL = """---
name: rotate-staging-certs
description: Rotate the staging TLS certificates the way this team does it.
metadata:
  categories: [ops]
---
1. List the certificates that expire within 30 days.
2. Renew them and reload the ingress.
"""


async def propose(store: Store, name: str = "rotate-staging-certs", skill_md: str = SKILL) -> Proposal:
    """A pending proposal of the skill ``skill_md`` under ``name``, drafted from four tasks."""
    return await store.proposals.add(
        pattern_key=f"recurring:{name}",
        kind="recurring",
        name=name,
        description="Rotate the staging certs every month, as the team keeps asking",
        skill_md=skill_md,
        drafted_by="template",
        support=4,
        confidence=0.8,
        evidence=("t1", "t2", "t3", "t4"),
    )

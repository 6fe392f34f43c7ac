"""Live subscriptions re-check credentials through a read shared for at most one second."""

from __future__ import annotations

import asyncio

import pytest

from auth.errors import AuthenticationError
from graph.ws_auth import Credential, CredentialKind, recheck_credential
from models.identity import ApiKey
from models.organization import utcnow
from tests.factories import Factory


async def test_concurrent_rechecks_share_one_read_and_revocation_is_seen(
    factory: Factory,
) -> None:
    tenant = await factory.tenant()
    credential = Credential(CredentialKind.API_KEY, tenant.api_key)
    results = await asyncio.gather(
        *(recheck_credential(credential, settings=factory.settings, max_age=1.0) for _ in range(50))
    )
    assert len({read_at for _, read_at in results}) == 1
    assert all(p.org_id == tenant.org.id for p, _ in results)

    await ApiKey.get_pymongo_collection().update_many(
        {"org_id": tenant.org.id}, {"$set": {"revoked_at": utcnow()}}
    )
    # A read older than the caller's bound is never reused.
    with pytest.raises(AuthenticationError):
        await recheck_credential(credential, settings=factory.settings, max_age=0.0)
    with pytest.raises(AuthenticationError):
        await recheck_credential(credential, settings=factory.settings, max_age=1.0)

"""`rebuild-summaries --apply` works in snapshot transactions of one machine and day, so it is
safe while ingest runs: nothing a batch committed during the rebuild is overwritten."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from models.analytics_store import Grain
from models.organization import utcnow
from models.scope import Scope
from models.summary_store import collection
from resolvers.analytics.rebuild import rebuild_summaries
from tests.factories import Factory, tx

MAX_BATCHES_DURING = 200


async def test_rebuild_while_batches_arrive_equals_a_rebuild_of_the_final_data(
    factory: Factory,
) -> None:
    # given five days of a machine's history, with damaged hourly and daily summaries
    tenant = await factory.tenant()
    scope = Scope.organization(tenant.org.id)
    now = utcnow()
    first_day = (now - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
    span = now - first_day

    def at(seq: int):
        return first_day + span * ((seq * 7919) % 997) / 997

    seq = 120
    accepted = await factory.ingest(tenant, [tx(s, occurred_at=at(s)) for s in range(1, seq + 1)])
    assert accepted["accepted"] == seq
    org = {"org_id": tenant.org.id}
    await collection(Grain.HOUR).update_many(org, {"$inc": {"n": 3, "t.DEPOSIT.a": 100}})
    await collection(Grain.DAY).delete_one(org)

    # when the rebuild applies while batches for the same days keep arriving
    rebuild = asyncio.create_task(
        rebuild_summaries(scope=scope, start=first_day, end=now + timedelta(hours=1), apply=True)
    )
    during = 0
    while not rebuild.done() and during < MAX_BATCHES_DURING:
        batch = [tx(s, occurred_at=at(s)) for s in range(seq + 1, seq + 4)]
        assert (await factory.ingest(tenant, batch))["accepted"] == 3
        seq += 3
        during += 0 if rebuild.done() else 1
    applied = await rebuild

    # then the repair happened, batches committed meanwhile, and the summaries match a
    # rebuild of the final raw data
    assert applied.differences
    assert during > 0
    check = await rebuild_summaries(scope=scope, start=first_day, end=utcnow() + timedelta(hours=1))
    assert check.differences == []
    assert check.checked[Grain.DAY] >= 4  # local dates entirely inside the range

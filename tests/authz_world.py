"""The fixed world the authorization matrix runs in: two organizations, actors of every
role, and the targets (shops, machines, keys, users) an operation can point at.

Org A: shop S0 with machines M00 and M01, shop S1 with machines M10 and M11. Org B: shop SB with MB.
Webhooks: WA of org A, WB of org B (loopback URLs the test settings refuse to send to, so
testWebhook never reaches the network).
Actors (all in org A): ORG_ADMIN, SHOP_MANAGER of S0, EMPLOYEE of S0 limited to M00,
AUDITOR, an API key of S0 (all its machines), and an anonymous caller.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from auth.principal import principal_for_user
from models.alerts import Incident
from models.identity import Role, User
from models.identity_store import create_user
from models.org_store import set_audit_witness_keys
from models.organization import utcnow
from models.scope import Scope
from resolvers.alerts.evaluator import evaluate_alerts
from resolvers.alerts.silences import create_silence
from resolvers.audit.checkpoints import produce_checkpoints
from resolvers.audit.note import ALG_COSIGNATURE_V1, Signer, format_verifier_key
from tests.alert_support import jam
from tests.factories import Factory, Tenant, tx
from tests.webhook_support import private_settings, register

WITNESS = Signer("witness.matrix.example", ALG_COSIGNATURE_V1, b"\x07" * 32)

ACTORS = ("ORG_ADMIN", "SHOP_MANAGER", "EMPLOYEE", "AUDITOR", "API_KEY", "ANONYMOUS")

# What each actor's scope covers (targets not listed are outside it).
VISIBLE: dict[str, frozenset[str]] = {
    "ORG_ADMIN": frozenset({"S0", "S1", "M00", "M01", "M10", "M11", "K0", "K1", "UA", "WA"}),
    "AUDITOR": frozenset({"S0", "S1", "M00", "M01", "M10", "M11", "K0", "K1", "UA", "WA"}),
    "SHOP_MANAGER": frozenset({"S0", "M00", "M01", "K0"}),
    "EMPLOYEE": frozenset({"S0", "M00"}),
    "API_KEY": frozenset({"S0", "M00", "M01", "K0"}),
    "ANONYMOUS": frozenset(),
}
SHOP_TARGETS = ("S0", "S1", "SB")
MACHINE_TARGETS = ("M00", "M01", "M10", "MB")
KEY_TARGETS = ("K0", "K1", "KB")
USER_TARGETS = ("UA", "UB")
WEBHOOK_TARGETS = ("WA", "WB")
UNSENDABLE_URL = "http://127.0.0.1:9/hook"


@dataclass
class World:
    factory: Factory
    a: Tenant
    b: Tenant
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    seqs: itertools.count = field(default_factory=lambda: itertools.count(1000))
    alerts: dict[str, str] = field(default_factory=dict)

    def auth(self, actor: str) -> dict[str, Any]:
        if actor == "API_KEY":
            return {"api_key": self.a.api_key}
        if actor == "ANONYMOUS":
            return {}
        return {"token": self.tokens[actor]}

    def tenant_of(self, target: str) -> Tenant:
        return self.b if target.endswith("B") else self.a

    async def fresh_key(self, target: str) -> str:
        """A new key on the target's shop (so rotating or revoking it harms nobody)."""
        issued = await self.factory.issue_key(
            self.tenant_of(target), shop_index={"K0": 0, "K1": 1, "KB": 0}[target], name="matrix"
        )
        return str(issued.api_key.id)

    async def fresh_machine(self, shop_target: str) -> str:
        """A new machine in the target shop (so moving or retiring it harms nobody)."""
        tenant = self.tenant_of(shop_target)
        shop_index = {"S0": 0, "S1": 1, "SB": 0}[shop_target]
        machine = await self.factory.machine(tenant, shop_index=shop_index)
        return str(machine.id)

    async def alert(self, target: str) -> str:
        """The id of a FIRING alert (a jam held past its hold) on the target machine."""
        if target not in self.alerts:
            tenant = self.tenant_of(target)
            index = tenant.machine_ids.index(self.ids[target])
            await self.factory.report(
                tenant,
                [jam(next(self.seqs))],
                machine_id=self.ids[target],
                api_key=tenant.machine_keys[index],
            )
            now = utcnow()
            for at in (now, now + timedelta(seconds=61)):  # the jam seen, then held
                await evaluate_alerts(now=at, settings=self.factory.settings)
            query = {"machine_id": tenant.machines[index].id, "rule": "NOTE_JAM"}
            incident = await Incident.get_pymongo_collection().find_one(query)
            assert incident is not None
            assert incident["state"] == "FIRING", incident
            self.alerts[target] = str(incident["_id"])
        return self.alerts[target]

    async def fresh_silence(self, target: str) -> str:
        """A new silence of the target shop, made by its organization's admin."""
        tenant = self.tenant_of(target)
        silence = await create_silence(
            principal=principal_for_user(tenant.admin),
            shop_ids=[tenant.shops[{"S0": 0, "S1": 1, "SB": 0}[target]].id],
            machine_ids=[],
            rules=[],
            reason="matrix",
            starts_at=None,
            ends_at=utcnow() + timedelta(hours=1),
        )
        return str(silence.id)

    async def fresh_webhook(self, target: str) -> str:
        """A new webhook of the target's organization (so deleting it harms nobody)."""
        issued = await register(
            self.tenant_of(target), UNSENDABLE_URL, settings=private_settings(self.factory.settings)
        )
        return str(issued.webhook.id)

    async def fresh_user(self, target: str) -> str:
        tenant = self.tenant_of(target)
        user = await create_user(
            scope=Scope.organization(tenant.org.id),
            user=User(
                org_id=tenant.org.id,
                email=f"target-{uuid.uuid4().hex[:10]}@example.com",
                password_hash="not-a-login-user",
                role=Role.EMPLOYEE,
                shop_ids=[tenant.shops[0].id],
            ),
        )
        return str(user.id)


async def build_world(factory: Factory) -> World:
    a = await factory.tenant(shops=2, machines_per_shop=2)
    b = await factory.tenant(shops=1, machines_per_shop=1)
    world = World(factory=factory, a=a, b=b)
    world.ids.update(
        S0=str(a.shops[0].id),
        S1=str(a.shops[1].id),
        SB=str(b.shops[0].id),
        M00=str(a.machines[0].id),
        M01=str(a.machines[1].id),
        M10=str(a.machines[2].id),
        M11=str(a.machines[3].id),
        MB=str(b.machines[0].id),
    )
    world.ids["WA"] = await world.fresh_webhook("WA")
    world.ids["WB"] = await world.fresh_webhook("WB")
    world.users["ORG_ADMIN"] = a.admin
    world.tokens["ORG_ADMIN"] = a.admin_token
    manager, world.tokens["SHOP_MANAGER"] = await factory.user(a, Role.SHOP_MANAGER, [0])
    employee, world.tokens["EMPLOYEE"] = await factory.user(
        a, Role.EMPLOYEE, [0], machine_ids=[a.machines[0].id]
    )
    auditor, world.tokens["AUDITOR"] = await factory.user(a, Role.AUDITOR, [])
    world.users.update(SHOP_MANAGER=manager, EMPLOYEE=employee, AUDITOR=auditor)
    # One transaction on every machine, so history and inventory have something to hide.
    s1_key = await factory.api_key(a, shop_index=1)
    for machine, key in (
        (world.ids["M00"], a.api_key),
        (world.ids["M01"], a.api_key),
        (world.ids["M10"], s1_key),
    ):
        await factory.ingest(a, [tx(1)], machine_id=machine, api_key=key)
    await factory.ingest(b, [tx(1)])
    # Checkpoints of every log, and a witness of org A, for the audit operations.
    for tenant in (a, b):
        await produce_checkpoints(settings=factory.settings, now=utcnow(), org_id=tenant.org.id)
    await set_audit_witness_keys(
        scope=Scope.organization(a.org.id), keys=[format_verifier_key(WITNESS.verifier())]
    )
    return world

"""The signing key ring: rotation keeps old checkpoints verifying, a broken ring is refused at
start-up without echoing key material, and production refuses the development key."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import ValidationError

from config import DEV_AUDIT_SIGNING_KEY, Settings
from models.organization import utcnow
from models.scope import Scope
from resolvers.audit.checkpoints import produce_checkpoints
from resolvers.audit.keys import KeyRingError, build_key_ring, key_ring
from resolvers.audit.log_check import verify_machine_chain
from resolvers.audit.note import Signer, format_signer_key, format_verifier_key
from tests.audit_support import PRODUCTION_AUDIT, export, verified
from tests.factories import Factory, tx

KEY_A = Signer("audit.test.example", 1, hashlib.sha256(b"rotation key A").digest())
KEY_B = Signer("audit.test.example", 1, hashlib.sha256(b"rotation key B").digest())


async def test_a_bundle_spanning_a_key_rotation_verifies(factory: Factory) -> None:
    # given: checkpoint 5 signed with key A, then A retired (public half only), B active
    before = factory.settings.model_copy(update={"audit_signing_keys": [format_signer_key(KEY_A)]})
    after = factory.settings.model_copy(
        update={
            "audit_signing_keys": [format_verifier_key(KEY_A.verifier()), format_signer_key(KEY_B)],
            "audit_active_key_id": f"{KEY_B.key_id:08x}",
        }
    )
    tenant = await factory.tenant()
    await factory.ingest(tenant, [tx(seq) for seq in range(1, 6)])
    await produce_checkpoints(settings=before, now=utcnow(), org_id=tenant.org.id)
    await factory.ingest(tenant, [tx(seq) for seq in range(6, 11)])
    run = await produce_checkpoints(settings=after, now=utcnow(), org_id=tenant.org.id)
    assert {cp.key_id for cp in run.stored} == {f"{KEY_B.key_id:08x}"}
    # when
    lines = await export(after, tenant)
    # then
    assert verified(lines, after).ok
    check = await verify_machine_chain(
        scope=Scope.organization(tenant.org.id), machine_id=tenant.machines[0].id, settings=after
    )
    assert (check.ok, check.checkpoints_checked) == (True, 2)
    only_new = verified(lines, after, log_keys=[format_verifier_key(KEY_B.verifier())])
    (log,) = only_new.logs
    assert log.finding is not None
    assert (log.finding.position, "unknown key" in log.finding.reason) == (1, True)


def test_the_active_key_signs_and_every_key_of_the_ring_verifies() -> None:
    ring = build_key_ring(
        [format_signer_key(KEY_A), format_signer_key(KEY_B)], f"{KEY_B.key_id:08x}"
    )
    assert ring.signer == KEY_B
    assert ring.verifier_keys == [
        format_verifier_key(KEY_B.verifier()),
        format_verifier_key(KEY_A.verifier()),
    ]


@pytest.mark.parametrize(
    ("entries", "active", "reason"),
    [
        (["PRIVATE+KEY+broken"], None, "AUDIT_SIGNING_KEYS[0] is not a signer or verifier"),
        ([format_verifier_key(KEY_A.verifier())], None, "holds no signer key"),
        ([format_signer_key(KEY_A)], "00000000", "AUDIT_ACTIVE_KEY_ID must name"),
        ([format_signer_key(KEY_A)] * 2, None, "AUDIT_SIGNING_KEYS[1] repeats a key"),
    ],
)
def test_a_ring_that_cannot_sign_is_refused_without_showing_the_key(
    entries: list[str], active: str | None, reason: str
) -> None:
    with pytest.raises(KeyRingError) as info:
        build_key_ring(entries, active)
    assert reason in str(info.value)
    assert format_signer_key(KEY_A).rsplit("+", 1)[1] not in str(info.value)


def test_production_refuses_the_development_audit_key_and_origin() -> None:
    base = {
        "app_env": "production",
        "jwt_secret": "p" * 48,
        "api_key_pepper": "q" * 48,
        "webhook_secret_key": "w" * 48,
        "mongodb_uri": "mongodb://db.example:27017/?replicaSet=rs0",
    }
    with pytest.raises(ValidationError) as info:
        Settings(**base, audit_signing_keys=[DEV_AUDIT_SIGNING_KEY], audit_log_origin="a.example")
    assert "AUDIT_SIGNING_KEYS" in str(info.value)
    assert DEV_AUDIT_SIGNING_KEY not in str(info.value)
    with pytest.raises(ValidationError, match="AUDIT_LOG_ORIGIN"):
        Settings(**base, audit_signing_keys=PRODUCTION_AUDIT["audit_signing_keys"])
    production = Settings(**base, **PRODUCTION_AUDIT)
    assert key_ring(production).signer.name == "audit.test.example"

"""Witnesses on the service's side: an organization registers the verifier keys of the
witnesses it runs (`cashcc witness`), and a witness's cosignatures are appended to the stored
checkpoints, so every bundle carries them.

A cosignature is only stored after it verifies against a registered witness key (and the
checkpoint's own log signature still verifies): a bad line would make the whole note fail to
open for every verifier (C2SP signed-note).
"""

from __future__ import annotations

from typing import Any

from auth.principal import Principal
from config import Settings
from models.audit_store import replace_checkpoint_note
from models.org_store import get_organization, set_audit_witness_keys
from models.scope import Scope
from resolvers.audit.errors import AuditErrorCode
from resolvers.audit.keys import key_ring
from resolvers.audit.note import (
    ALG_COSIGNATURE_V1,
    SIGNATURE_PREFIX,
    NoteError,
    Verifier,
    format_verifier_key,
    open_note,
    parse_note,
    parse_verifier_key,
)
from resolvers.audit.proofs import (
    KeyRole,
    PublicKey,
    check_size,
    machine_in_scope,
    public_key_of,
    signed_checkpoint,
)
from resolvers.errors import CommonErrorCode, ServiceError
from resolvers.identity.security_log import SecurityAction, record_admin_action

MAX_WITNESSES = 10
MAX_COSIGN_ATTEMPTS = 5


def _invalid(field: str, message: str) -> ServiceError:
    return ServiceError.of(CommonErrorCode.INVALID, message, field=field)


def _witness_key(position: int, text: str) -> Verifier:
    field = f"input.verifierKeys[{position}]"
    try:
        verifier = parse_verifier_key(text.strip())
    except NoteError as exc:
        raise _invalid(field, f"not a verifier key: {exc}") from None
    if verifier.algorithm != ALG_COSIGNATURE_V1:
        raise _invalid(field, "a witness key must be a cosignature/v1 (type 0x04) key")
    return verifier


async def set_witnesses(*, principal: Principal, verifier_keys: list[str]) -> list[PublicKey]:
    """Replace the organization's witness keys (an empty list: no witness)."""
    if len(verifier_keys) > MAX_WITNESSES:
        raise _invalid("input.verifierKeys", f"at most {MAX_WITNESSES} witness keys")
    keys = [format_verifier_key(_witness_key(i, text)) for i, text in enumerate(verifier_keys)]
    if len(set(keys)) != len(keys):
        raise _invalid("input.verifierKeys", "a witness key is listed twice")
    await set_audit_witness_keys(scope=Scope.organization(principal.org_id), keys=keys)
    await record_admin_action(
        principal,
        SecurityAction.AUDIT_WITNESSES_CHANGED,
        target_kind="ORGANIZATION",
        target_id=principal.org_id,
        details={"witnesses": ",".join(k.split("+", 2)[1] for k in keys) or "none"},
    )
    return [public_key_of(k, role=KeyRole.WITNESS, active=True) for k in keys]


def _bad(message: str) -> ServiceError:
    return ServiceError.of(AuditErrorCode.BAD_COSIGNATURE, message, field="input.cosignature")


async def cosign(
    *, principal: Principal, settings: Settings, machine_id: str, size: int, cosignature: str
) -> dict[str, Any]:
    """Append a registered witness's cosignature line to a machine's checkpoint."""
    scope = principal.scope
    machine = await machine_in_scope(scope, machine_id, "input.machineId")
    check_size("input.size", size)
    org = await get_organization(scope=Scope.organization(principal.org_id))
    witnesses = [parse_verifier_key(k) for k in (org.audit_witness_keys if org else [])]
    if not witnesses:
        raise _bad("the organization has no witness key: register it with setAuditWitnesses")
    line = cosignature if cosignature.endswith("\n") else cosignature + "\n"
    if not line.startswith(SIGNATURE_PREFIX) or line.count("\n") != 1:
        raise _bad("send one signature line: an em dash, a space, the key name, a space, base64")
    known = [*key_ring(settings).verifiers, *witnesses]
    witness_slots = {(w.name, w.key_id) for w in witnesses}
    for _ in range(MAX_COSIGN_ATTEMPTS):
        checkpoint = await signed_checkpoint(scope, machine, size, "input.size")
        note = checkpoint["note"]
        try:
            opened = open_note(note + line, known)
            added = parse_note(note + line)
        except NoteError as exc:
            raise _bad(f"the cosignature does not verify: {exc}") from None
        mine = [s for s in opened.verified if (s.name, s.key_id) in witness_slots]
        new = added.signatures[-1]
        if (new.name, new.key_id) not in witness_slots or not mine:
            raise _bad("the line is not signed by a witness key of the organization")
        if any((s.name, s.key_id) == (new.name, new.key_id) for s in parse_note(note).signatures):
            return checkpoint  # this witness cosigned it already
        if await replace_checkpoint_note(
            scope=scope, machine_id=machine, size=size, old_note=note, new_note=note + line
        ):
            return {**checkpoint, "note": note + line}
    raise ServiceError.of(
        CommonErrorCode.CONFLICT, "the checkpoint is being cosigned concurrently; retry",
        retryable=True,
    )  # fmt: skip

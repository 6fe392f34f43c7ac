"""The audit logs' key ring, from AUDIT_SIGNING_KEYS / AUDIT_ACTIVE_KEY_ID (docs/audit.md).

One active signer signs new checkpoints; every key of the ring, current or retired, verifies
the checkpoints it signed. A retired key may stay in the ring as its verifier key only, so its
private half can be destroyed. Error messages name the entry, never the key material.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from config import Settings
from resolvers.audit.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    NoteError,
    Signer,
    Verifier,
    format_verifier_key,
    parse_signer_key,
    parse_verifier_key,
)

SIGNER_PREFIX = "PRIVATE+KEY+"


class KeyRingError(ValueError):
    """AUDIT_SIGNING_KEYS, AUDIT_ACTIVE_KEY_ID or AUDIT_WITNESS_KEY cannot be used."""


@dataclass(frozen=True)
class KeyRing:
    signer: Signer
    verifiers: tuple[Verifier, ...]

    def find(self, name: str, key_id: int) -> Verifier | None:
        for verifier in self.verifiers:
            if (verifier.name, verifier.key_id) == (name, key_id):
                return verifier
        return None

    @property
    def verifier_keys(self) -> list[str]:
        return [format_verifier_key(v) for v in self.verifiers]


def _entry(position: int, text: str) -> tuple[Signer | None, Verifier]:
    what = f"AUDIT_SIGNING_KEYS[{position}]"
    try:
        if text.startswith(SIGNER_PREFIX):
            signer = parse_signer_key(text)
            verifier = signer.verifier()
        else:
            signer, verifier = None, parse_verifier_key(text)
    except NoteError:
        raise KeyRingError(f"{what} is not a signer or verifier note key") from None
    if verifier.algorithm != ALG_ED25519:
        raise KeyRingError(f"{what} must be an Ed25519 (type 0x01) key")
    return signer, verifier


def build_key_ring(entries: list[str], active_key_id: str | None) -> KeyRing:
    signers: list[Signer] = []
    verifiers: list[Verifier] = []
    for position, text in enumerate(entries):
        signer, verifier = _entry(position, text)
        if any((v.name, v.key_id) == (verifier.name, verifier.key_id) for v in verifiers):
            raise KeyRingError(f"AUDIT_SIGNING_KEYS[{position}] repeats a key")
        verifiers.append(verifier)
        if signer is not None:
            signers.append(signer)
    if active_key_id is None:
        if not signers:
            raise KeyRingError("AUDIT_SIGNING_KEYS holds no signer key (PRIVATE+KEY+...)")
        active = signers[0]
    else:
        matching = [s for s in signers if f"{s.key_id:08x}" == active_key_id.lower()]
        if not matching:
            raise KeyRingError("AUDIT_ACTIVE_KEY_ID must name a signer key of AUDIT_SIGNING_KEYS")
        active = matching[0]
    ordered = [active.verifier()] + [v for v in verifiers if v != active.verifier()]
    return KeyRing(signer=active, verifiers=tuple(ordered))


@lru_cache(maxsize=8)
def _cached(entries: tuple[str, ...], active_key_id: str | None) -> KeyRing:
    return build_key_ring(list(entries), active_key_id)


def key_ring(settings: Settings) -> KeyRing:
    """The ring of `settings` (parsed once per distinct configuration)."""
    return _cached(tuple(settings.audit_key_ring), settings.audit_active_key_id)


def witness_signer(settings: Settings) -> Signer:
    """The cosigner key of `cashcc witness` (AUDIT_WITNESS_KEY)."""
    if not settings.audit_witness_key:
        raise KeyRingError("AUDIT_WITNESS_KEY is not set (generate one: cashcc audit-keygen)")
    try:
        signer = parse_signer_key(settings.audit_witness_key)
    except NoteError:
        raise KeyRingError("AUDIT_WITNESS_KEY is not a signer note key") from None
    if signer.algorithm != ALG_COSIGNATURE_V1:
        raise KeyRingError("AUDIT_WITNESS_KEY must be a cosignature/v1 (type 0x04) key")
    return signer

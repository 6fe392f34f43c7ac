"""The bundle is what docs/audit.md says it is: an independent verifier written here from the
RFCs and C2SP specifications (hashlib, and cryptography's Ed25519), sharing no code with the
project's, accepts it, and rebuilds every signed root from the records alone."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.audit_support import checkpoint, export
from tests.factories import Factory, tx


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1: the Merkle Tree Hash, by its recursive definition."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return sha256(b"\x00" + leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def inclusion_root(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """RFC 9162 section 2.1.3.2: the root an audit path leads to (None: it cannot)."""
    fn, sn, r = index, size - 1, sha256(b"\x00" + leaf)
    for p in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def consistent(m: int, n: int, proof: list[bytes], first: bytes, second: bytes) -> bool:
    """RFC 9162 section 2.1.4.2, for 0 < m < n."""
    if m & (m - 1) == 0:
        proof = [first, *proof]
    fn, sn = m - 1, n - 1
    while fn % 2 == 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = sha256(b"\x01" + c + fr), sha256(b"\x01" + c + sr)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first and sr == second


def open_signed_checkpoint(note: str, vkeys: list[str]) -> tuple[str, int, bytes]:
    """C2SP signed-note + tlog-checkpoint: verify an Ed25519 line by a known key, parse."""
    text, signatures = note[: note.rindex("\n\n") + 1], note[note.rindex("\n\n") + 2 :]
    known = {}
    for vkey in vkeys:
        name, key_id, material = vkey.split("+")
        raw = base64.b64decode(material)
        assert raw[0] == 1
        assert sha256(name.encode() + b"\n" + raw)[:4].hex() == key_id
        known[(name, key_id)] = raw[1:]
    verified = 0
    for line in signatures.splitlines():
        assert line.startswith("\u2014 ")
        name, encoded = line[2:].split(" ")
        raw = base64.b64decode(encoded)
        public = known.get((name, raw[:4].hex()))
        if public is not None:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())
            except InvalidSignature:
                raise AssertionError(f"bad signature by {name}") from None
            verified += 1
    assert verified, "no signature by a known key"
    origin, size, root = text.splitlines()[:3]
    return origin, int(size), base64.b64decode(root)


async def test_the_bundle_verifies_with_an_independent_implementation(factory: Factory) -> None:
    tenant = await factory.tenant(machines_per_shop=2)
    seq = 0
    for batch in (3, 4, 6):
        for machine in tenant.machine_ids:
            await factory.ingest(
                tenant, [tx(seq + i) for i in range(1, batch + 1)], machine_id=machine
            )
        seq += batch
        await checkpoint(factory.settings, tenant)
    lines = [json.loads(line) for line in await export(factory.settings, tenant)]
    header, end = lines[0], lines[-1]
    assert (header["format"], end) == (
        "cashcc-audit-bundle/1",
        {"type": "end", "logs": 2, "records": 26},
    )
    logs = [line for line in lines if line.get("type") == "log"]
    assert {log["machineId"] for log in logs} == set(tenant.machine_ids)
    for log in logs:
        records = [
            r for r in lines if r.get("type") == "record" and r["machineId"] == log["machineId"]
        ]
        leaves, previous = [], "0" * 64
        for position, record in enumerate(records, start=1):
            content = json.dumps(
                record["transaction"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
            assert hashlib.sha256(content).hexdigest() == record["hash"]
            assert record["transaction"]["chain_position"] == position
            assert record["transaction"]["prev_hash"] == previous
            previous = record["hash"]
            leaves.append(bytes.fromhex(record["hash"]))
        signed = [open_signed_checkpoint(c["note"], header["logKeys"]) for c in log["checkpoints"]]
        assert [s[1] for s in signed] == [3, 7, 13]
        for origin, size, root in signed:
            assert origin == log["origin"]
            assert mth(leaves[:size]) == root
        for proof, older, newer in zip(log["consistency"], signed, signed[1:], strict=False):
            hashes = [base64.b64decode(h) for h in proof["proof"]]
            assert consistent(older[1], newer[1], hashes, older[2], newer[2])
        closing_size, closing_root = signed[-1][1], signed[-1][2]
        for index, record in enumerate(records):
            path = [base64.b64decode(h) for h in record["proof"]]
            assert inclusion_root(leaves[index], index, closing_size, path) == closing_root

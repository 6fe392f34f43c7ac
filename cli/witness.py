"""`cashcc witness`: the process a customer runs on their own side to cosign checkpoints.

It needs nothing of the service but its GraphQL API and an account of the organization: it
never trusts the service's answers. Its state file (the last checkpoint it cosigned per
machine, and the pinned log keys) is its memory. For every machine, each round it:

1. reads the newest checkpoint and opens it with the pinned log keys;
2. fetches a consistency proof from the last checkpoint *it* cosigned and checks it against
   the root *it* kept, not one the service sends;
3. only then cosigns (C2SP tlog-cosignature/v1 with AUDIT_WITNESS_KEY), records the new
   checkpoint in its state, and sends the cosignature line (`cosignAuditCheckpoint`).

A checkpoint that does not extend what it cosigned is an ALERT: both signed checkpoints are
printed (together they prove the log was rewritten) and that machine is never cosigned again
until someone removes it from the state file.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from resolvers.audit.checkpoint import CheckpointError, open_checkpoint, parse_checkpoint
from resolvers.audit.note import (
    NoteError,
    Signer,
    format_verifier_key,
    parse_note,
    parse_verifier_key,
    signature_line,
)
from resolvers.audit.verify import ProofError, check_consistency

MACHINES = "{ shops { machines { id } } }"
LATEST = """query($m: ID!) { auditCheckpoints(machineId: $m, first: 1) { edges { node {
  size note } } } }"""
KEYS = "{ auditPublicKeys { verifierKey role } }"
PROOF = """query($m: ID!, $a: Long!, $b: Long!) {
  consistencyProof(machineId: $m, fromSize: $a, toSize: $b) { hashes } }"""
COSIGN = """mutation($input: CosignAuditCheckpointInput!) {
  cosignAuditCheckpoint(input: $input) { userErrors { field code message } } }"""
LOGIN = """mutation($e: String!, $p: String!) { login(email: $e, password: $p) {
  accessToken userErrors { code message } } }"""


class WitnessError(Exception):
    """The API refused or failed a request (not a misbehaving log: that is an alert)."""


@dataclass
class Round:
    cosigned: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    pending: int = 0


class Witness:
    """One witness over one organization; `state_path` is its memory."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        signer: Signer,
        state_path: Path,
        email: str,
        password: str,
        log_keys: list[str] | None = None,
        clock: Any = time.time,
    ) -> None:
        self.http, self.signer, self.state_path = http, signer, state_path
        self.email, self.password, self.clock = email, password, clock
        self.state: dict[str, Any] = (
            json.loads(state_path.read_text()) if state_path.exists() else {"machines": {}}
        )
        if log_keys:
            self.state["logKeys"] = [format_verifier_key(parse_verifier_key(k)) for k in log_keys]
        self.token: str | None = None

    async def _gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body = response.json()
        if body.get("errors"):
            raise WitnessError(body["errors"][0]["message"])
        return body["data"]

    async def _login(self) -> None:
        self.token = None
        data = (await self._gql(LOGIN, {"e": self.email, "p": self.password}))["login"]
        if data["userErrors"]:
            raise WitnessError(f"login: {data['userErrors'][0]['message']}")
        self.token = data["accessToken"]

    def _save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        os.replace(tmp, self.state_path)

    async def _log_keys(self) -> list[str]:
        if not self.state.get("logKeys"):  # trust on first use; say so
            keys = (await self._gql(KEYS))["auditPublicKeys"]
            self.state["logKeys"] = [k["verifierKey"] for k in keys if k["role"] == "LOG"]
            print("witness: pinned the service's log keys on first use; pass --log-key to pin")
        return self.state["logKeys"]

    async def run_round(self) -> Round:
        """Check and cosign the newest checkpoint of every machine once."""
        await self._login()
        keys = [parse_verifier_key(k) for k in await self._log_keys()]
        result = Round()
        shops = (await self._gql(MACHINES))["shops"]
        for machine_id in sorted(m["id"] for shop in shops for m in shop["machines"]):
            await self._machine(machine_id, keys, result)
        self._save()
        return result

    def _alert(self, result: Round, machine_id: str, reason: str, notes: list[str]) -> None:
        self.state["machines"].setdefault(machine_id, {})["alert"] = reason
        evidence = "\n".join(notes)
        result.alerts.append(f"ALERT machine {machine_id}: {reason}\n{evidence}")

    async def _machine(self, machine_id: str, keys: list[Any], result: Round) -> None:
        mine = self.state["machines"].get(machine_id, {})
        if mine.get("alert"):
            return
        if mine.get("pending"):
            await self._submit(machine_id, mine, result)
        edges = (await self._gql(LATEST, {"m": machine_id}))["auditCheckpoints"]["edges"]
        if not edges:
            return
        note = edges[0]["node"]["note"]
        try:
            body = parse_checkpoint(parse_note(note).text)
            if not body.origin.endswith(f"/{machine_id}"):
                raise CheckpointError(f"origin {body.origin} is not this machine's log")
            log_key = next(k for k in keys if any(
                s.name == k.name and s.key_id == k.key_id for s in parse_note(note).signatures
            ))  # fmt: skip
            opened = open_checkpoint(note, origin=body.origin, log_key=log_key).checkpoint
        except (NoteError, CheckpointError, StopIteration) as exc:
            self._alert(
                result, machine_id, f"the newest checkpoint does not verify ({exc})", [note]
            )
            return
        size, root = opened.size, opened.root
        if mine.get("size") is not None:
            old_root = base64.b64decode(mine["root"])
            if size < mine["size"] or (size == mine["size"] and root != old_root):
                self._alert(result, machine_id, "the log went back", [mine["note"], note])
                return
            if size == mine["size"]:
                return
            proof = await self._gql(PROOF, {"m": machine_id, "a": mine["size"], "b": size})
            try:
                hashes = [base64.b64decode(h) for h in proof["consistencyProof"]["hashes"]]
                check_consistency(mine["size"], size, hashes, old_root, root)
            except (ProofError, ValueError) as exc:
                reason = f"size {size} does not extend the cosigned size {mine['size']} ({exc})"
                self._alert(result, machine_id, reason, [mine["note"], note])
                return
        line = signature_line(parse_note(note).text, self.signer, timestamp=int(self.clock()))
        mine = {
            "size": size,
            "root": base64.b64encode(root).decode(),
            "note": note,
            "pending": line,
        }
        self.state["machines"][machine_id] = mine
        self._save()  # the cosignature is given: remember it before sending it
        await self._submit(machine_id, mine, result)

    async def _submit(self, machine_id: str, mine: dict[str, Any], result: Round) -> None:
        variables = {
            "input": {"machineId": machine_id, "size": mine["size"], "cosignature": mine["pending"]}
        }
        errors = (await self._gql(COSIGN, variables))["cosignAuditCheckpoint"]["userErrors"]
        if errors:
            result.pending += 1
            print(
                f"witness: machine {machine_id}: cosignature not accepted: {errors[0]['message']}"
            )
            return
        mine.pop("pending", None)
        result.cosigned.append(f"{machine_id}@{mine['size']}")

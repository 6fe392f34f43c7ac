"""End-of-run check of the twins through the public API: every machine's `health` must show
the last state its agent reported (per section, by telemetry seq), and the faulted machines
the connectivity and status their fault implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.api import CloudApi
from simulator.health_api import machine_health

MODULES = {1: "NOTE_UNIT", 2: "COIN_UNIT"}


def expected_twin(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """What the twin must hold after `messages` (all delivered), folded by seq like the
    cloud does: per section the message with the highest seq wins."""
    out: dict[str, Any] = {"doors": {}, "errors": {}}
    for msg in sorted(messages, key=lambda m: m["seq"]):
        kind = msg["kind"]
        if kind == "STATUS":
            out["status"] = (msg["seq"], msg["status"]["code"])
        elif kind == "UNITS":
            units = sorted(
                (u["number"], u["statusCode"],
                 tuple(sorted((p["kind"], p["denomination"], p["count"]) for p in u["pieces"])))
                for u in msg["units"]
            )  # fmt: skip
            out["units"] = (msg["seq"], units)
        elif kind == "HEARTBEAT":
            hb = msg["heartbeat"]
            out["agent"] = (msg["seq"], hb["agentVersion"], hb["lastJournaledSeq"],
                            hb["outboxBacklog"])  # fmt: skip
        elif kind == "SUSPECT_NOTES":
            sn = msg["suspectNotes"]
            out["suspect"] = (msg["seq"], sn["category2"], sn["category3"])
        elif kind == "DOOR":
            out["doors"][msg["door"]["door"]] = msg["door"]["state"]
        elif kind in ("ERROR", "ERROR_CLEARED"):
            key = (msg["error"]["code"], MODULES.get(msg["error"].get("module"), "UNKNOWN"))
            out["errors"][key] = kind == "ERROR"
    return out


def reported_twin(health: dict[str, Any]) -> dict[str, Any]:
    """The same shape from `Machine.health`."""
    out: dict[str, Any] = {
        "doors": {d["door"]: d["state"] for d in health["doors"]},
        "errors": {(e["code"], e["module"] or "UNKNOWN"): True for e in health["activeErrors"]},
    }
    if health["status"]:
        out["status"] = (health["status"]["seq"], health["status"]["code"])
    if health["units"]:
        out["units"] = (
            health["units"]["seq"],
            sorted(
                (u["number"], u["statusCode"],
                 tuple(sorted((p["kind"], p["denomination"], p["count"]) for p in u["pieces"])))
                for u in health["units"]["units"]
            ),
        )  # fmt: skip
    if health["agent"]:
        a = health["agent"]
        out["agent"] = (a["seq"], a["agentVersion"], a["lastJournaledSeq"], a["outboxBacklog"])
    if health["suspectNotes"]:
        s = health["suspectNotes"]
        out["suspect"] = (s["seq"], s["category2"], s["category3"])
    return out


@dataclass
class TwinCheck:
    machine_id: str
    messages: int
    undelivered: int
    dead: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.problems or self.undelivered or self.dead)


def compare(machine_id: str, telemetry: list[tuple[str, dict[str, Any]]],
            health: dict[str, Any]) -> TwinCheck:  # fmt: skip
    """Compare what the agent reported (outbox telemetry as (state, message)) with the
    machine's health as the API shows it."""
    delivered = [m for state, m in telemetry if state == "acked"]
    check = TwinCheck(
        machine_id=machine_id,
        messages=len(telemetry),
        undelivered=sum(1 for state, _ in telemetry if state == "pending"),
        dead=sum(1 for state, _ in telemetry if state == "dead"),
    )
    want, got = expected_twin(delivered), reported_twin(health)
    want["errors"] = {k: v for k, v in want["errors"].items() if v}
    for section in ("status", "units", "agent", "suspect", "doors", "errors"):
        if want.get(section) != got.get(section):
            check.problems.append(
                f"twin {section}: agent reported {want.get(section)}, cloud {got.get(section)}"
            )
    return check


async def check_twins(
    api: CloudApi, telemetry: dict[str, list[tuple[str, dict[str, Any]]]]
) -> list[TwinCheck]:
    """`compare()` for every machine."""
    return [compare(mid, msgs, await machine_health(api, mid)) for mid, msgs in telemetry.items()]

"""The embedded database runs as its own process, is shared by every local process, and
keeps its data across restarts."""

from __future__ import annotations

import json
from pathlib import Path

from pymongo import MongoClient

from models.embedded import ADDR_FILE, running_server, start_server, stop_server


def test_started_on_demand_shared_and_persistent(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    first = start_server(var_dir / "db", var_dir)
    try:
        assert first.started_here
        recorded = json.loads((var_dir / ADDR_FILE).read_text())
        assert recorded == {"uri": first.uri, "pid": first.pid}
        again = start_server(var_dir / "db", var_dir)
        assert (again.uri, again.pid, again.started_here) == (first.uri, first.pid, False)
        with MongoClient(first.uri) as client:
            client.probe.docs.insert_one({"_id": 1, "kept": True})
    finally:
        stop_server(first)
    assert running_server(var_dir) is None
    assert not (var_dir / ADDR_FILE).exists()

    restarted = start_server(var_dir / "db", var_dir)
    try:
        assert restarted.started_here
        with MongoClient(restarted.uri) as client:
            assert client.probe.docs.find_one({"_id": 1}) == {"_id": 1, "kept": True}
    finally:
        stop_server(restarted)

"""The third-party transparency-log test vectors (`tests/data/tlog-test-vectors.json`): RFC
9162 Merkle proofs, C2SP signed notes and checkpoints, by group name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GROUPS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "tlog-test-vectors.json").read_text(encoding="utf-8")
)["groups"]

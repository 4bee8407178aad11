"""Record a release: the sha256 of every migration it ships, in supabase/released.json.

Run once per release, after the CHANGELOG has its section, then tag it:
    python scripts/record_release.py 0.2.0 && git commit -am "Release 0.2.0" && git tag v0.2.0
From then on those files are frozen: tests/unit/test_releases.py fails if one changes, and
every schema change is a new migration with a later timestamp.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASED = ROOT / "supabase" / "released.json"


def main(version: str) -> int:
    data = json.loads(RELEASED.read_text()) if RELEASED.exists() else {"releases": []}
    if any(r["version"] == version for r in data["releases"]):
        print(f"{version} is already recorded", file=sys.stderr)
        return 1
    migrations = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in sorted((ROOT / "supabase" / "migrations").glob("*.sql"))}
    data["releases"].append({"version": version, "migrations": migrations})
    RELEASED.write_text(json.dumps(data, indent=2) + "\n")
    print(f"recorded {version}: {len(migrations)} migrations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))

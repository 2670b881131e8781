"""docs/reliability.md shows the fault matrix the suite checks, and every row is exercised."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from tests.e2e.faults.matrix import CASES, cases

ROOT = Path(__file__).resolve().parents[3]
RUN_BY_PARAMETRIZE = ("network", "auth")  # tests/e2e/faults/test_{network,auth}_faults.py run each row


def load_script():
    spec = importlib.util.spec_from_file_location("fault_matrix", ROOT / "scripts" / "fault_matrix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_document_shows_the_matrix_the_suite_checks():
    script = load_script()
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert script.current_block(text) == script.render(CASES), \
        "docs/reliability.md is stale: run `python scripts/fault_matrix.py --write`"
    assert script.main(["--check"]) == 0


def test_every_row_outside_the_parametrized_areas_is_looked_up_by_a_test():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests" / "e2e").rglob("test_*.py"))
    literals = set(re.findall(r'"([^"\n]+)"', sources))
    missing = []
    for row in CASES:
        if row.area in RUN_BY_PARAMETRIZE:
            continue
        base, _, suffix = row.id.partition("/")
        by_parts = suffix and base in literals and f'f"{{fault}}/{suffix}"' in sources  # case(f"{fault}/ask")
        if row.id not in literals and not by_parts:
            missing.append(row.id)
    assert missing == []


def test_the_matrix_covers_every_fault_of_issue_8():
    ids = {c.id for c in CASES}
    for required in ("429-every-attempt", "429-once-no-retry-after", "http-500-html", "http-502-html",
                     "http-503-html", "connection-refused", "reset-before-first-byte-once",
                     "reset-after-5-chunks", "stall-mid-stream", "trickle-from-start", "trickle-mid-stream",
                     "json-200-instead-of-stream", "html-200-instead-of-stream", "malformed-mid-stream",
                     "expired-token", "401-fresh-token", "wrong-ca"):
        assert required in ids
    assert {c.area for c in cases("network", "auth")} == {"network", "auth"}

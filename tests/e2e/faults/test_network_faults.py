"""Network faults against every provider kind: rate limits, 5xx pages, refused/reset connections,
stalls, trickles, wrong bodies and malformed streams (the `network` rows of matrix.py)."""

from __future__ import annotations

import pytest

from tests.e2e.faults.checks import verify
from tests.e2e.faults.matrix import cases

pytestmark = pytest.mark.e2e

PARAMS = [pytest.param(case, kind, id=f"{case.id}-{kind}") for case in cases("network") for kind in case.kinds]


@pytest.mark.parametrize("case, kind", PARAMS)
def test_network_fault(case, kind, outcome):
    verify(case, outcome.target, outcome.prompt, outcome.proc)

"""Credential and TLS faults against every provider kind: a token that expired mid-batch, a 401 on a
fresh token, a certificate from the wrong CA (the `auth` rows of matrix.py)."""

from __future__ import annotations

import pytest

from tests.e2e.faults.checks import verify
from tests.e2e.faults.matrix import cases

pytestmark = pytest.mark.e2e

PARAMS = [pytest.param(case, kind, id=f"{case.id}-{kind}") for case in cases("auth") for kind in case.kinds]


@pytest.mark.parametrize("case, kind", PARAMS)
def test_auth_fault(case, kind, outcome):
    target, proc = outcome.target, outcome.proc
    verify(case, target, outcome.prompt, proc)
    if case.id == "expired-token":
        assert target.token_exchanges() == 2  # renewed exactly once
    if case.id == "401-fresh-token":
        assert "hint:" in proc.stderr
    if case.id == "wrong-ca":
        assert target.server.requests == []  # the handshake failed: nothing was sent

"""Test certificate authorities for fake HTTPS servers (trustme).

`session_ca()` is the CA the fake servers' certificates are issued by; point a client at it with
`ProviderSpec(ca_bundle=session_ca().ca_pem_path)`. `wrong_ca()` is an unrelated CA for
"the server's certificate is not trusted" tests. Both are created once per process.
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
from functools import cache
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost")


class TestCA:
    """A throwaway CA with its PEM file on disk and a server certificate for 127.0.0.1/localhost."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, name: str = "llmcli test CA") -> None:
        self._ca = trustme.CA(organization_name=name)
        self._server_cert = self._ca.issue_cert(*SERVER_NAMES)
        self._dir = Path(tempfile.mkdtemp(prefix="llmcli-test-ca-"))
        atexit.register(shutil.rmtree, self._dir, True)
        self.ca_pem_path = str(self._dir / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_pem_path)

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server-side context presenting a certificate valid for 127.0.0.1 and localhost."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server_cert.configure_cert(context)
        return context

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting only this CA (for tests that talk to a fake directly)."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context


@cache
def session_ca() -> TestCA:
    """The CA that issues the fake servers' certificates (one per test session)."""
    return TestCA("llmcli test CA")


@cache
def wrong_ca() -> TestCA:
    """An unrelated CA: a client trusting only this one must reject the fake servers."""
    return TestCA("llmcli unrelated CA")

"""Fixtures for the end-to-end tests: `target_of(kind)` starts a fake provider server of any kind
(tests/e2e/faults/fixtures.py)."""

from tests.e2e.faults.fixtures import target_of  # noqa: F401 - a fixture, offered to tests/e2e/**

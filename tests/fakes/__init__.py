"""Fake provider servers for tests and benchmarks: real sockets, real protocols, injectable faults."""

"""The pure domain shared by receiver and workers: canonical events, money, idempotency keys.

Imports only the standard library, pydantic and iso4217 (tests/integration/test_layers.py
keeps it so).
"""

"""Integration fixtures: the iCount sandbox on port 0, served in the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from worker.providers.icount.sandbox import RunningSandbox, serve_sandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox() as running:
        yield running

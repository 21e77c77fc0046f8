"""The CLI stack a module of e2e tests shares, started once for the module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from invoicebridge.stack.local import LocalStack, StackOptions, running_stack


def module_stack(folder: str, **options: Any) -> Any:
    """A module-scoped `stack` fixture: `running_stack` in a temporary folder named `folder`,
    with StackOptions(workers=2, threads=4) and `options` on top."""

    @pytest.fixture(scope="module", name="stack")
    def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
        settings = StackOptions(**{"workers": 2, "threads": 4, **options})
        with running_stack(tmp_path_factory.mktemp(folder), settings) as local:
            yield local

    return stack

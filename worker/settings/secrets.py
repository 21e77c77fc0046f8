"""What every settings table is built from: strict frozen models, and secrets that may be
written literally, as `env:NAME` or as `file:PATH`, held as `SecretStr` so they never print."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr


def resolve_secret(value: object) -> object:
    """Turn `env:NAME` / `file:PATH` references into their value; leave literals alone."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return value
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        path = Path(value[5:])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    return value


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret)]


class Strict(BaseModel):
    """A settings table: unknown keys are errors, and nothing changes once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

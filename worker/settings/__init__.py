"""Settings: the TOML file's model and loading (`model`), a tenant's tables (`tenant`) and
secret references (`secrets`). Import them from here: `from worker.settings import Settings`.
What is exported is `model.__all__`: the one list of the package's public names."""

from worker.settings.model import *  # noqa: F403
from worker.settings.model import __all__ as __all__

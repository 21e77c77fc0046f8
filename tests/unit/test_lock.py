"""The locks: every pin exact and hashed, the image's locks cut from the development lock (same
versions, same hashes), pyproject.toml's ranges kept, and this environment equal to the lock.

The tests marked `locked_env` hold the running venv to the lock; `make test-latest` leaves
them out, since its venv has the newest versions on purpose.
"""

from __future__ import annotations

import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.lockfile import (
    BUILD_LOCK,
    DEV_LOCK,
    REPO,
    RUNTIME_LOCK,
    Pin,
    drift,
    installed_now,
    parse_freeze,
    parse_lock,
    read_lock,
)

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DEV, RUNTIME, BUILD = read_lock(DEV_LOCK), read_lock(RUNTIME_LOCK), read_lock(BUILD_LOCK)
HASH = "0" * 63


def _requirements(*extras: str) -> list[Requirement]:
    texts = list(PROJECT["project"]["dependencies"])
    for extra in extras:
        texts += PROJECT["project"]["optional-dependencies"][extra]
    return [
        Requirement(t) for t in texts if canonicalize_name(Requirement(t).name) != "invoicebridge"
    ]


@pytest.mark.parametrize(("lock", "name"), [(RUNTIME, "runtime"), (BUILD, "build")])
def test_the_image_locks_are_cut_from_the_development_lock(lock: dict[str, Pin], name: str) -> None:
    assert lock, name
    for package, pin in lock.items():
        assert DEV.get(package) == pin, f"{name} lock: {package} differs from requirements.lock"


@pytest.mark.parametrize(
    ("lock", "extras"), [(RUNTIME, ()), (DEV, ("sandbox", "dev"))], ids=["runtime", "dev"]
)
def test_each_lock_pins_every_direct_requirement_within_its_range(
    lock: dict[str, Pin], extras: tuple[str, ...]
) -> None:
    for requirement in _requirements(*extras):
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} is not locked"
        assert requirement.specifier.contains(lock[name].version, prereleases=True), name


def test_development_tools_and_the_sandbox_stay_out_of_the_image() -> None:
    for requirement in _requirements("sandbox", "dev"):
        if requirement not in _requirements():
            assert canonicalize_name(requirement.name) not in RUNTIME, requirement.name


def test_the_build_tools_are_locked_and_fit_the_build_system() -> None:
    assert set(BUILD) == {"pip", "setuptools"}
    for text in PROJECT["build-system"]["requires"]:
        requirement = Requirement(text)
        assert requirement.specifier.contains(BUILD[canonicalize_name(requirement.name)].version)


def _extras_asked(extras: tuple[str, ...]) -> dict[str, set[str]]:
    """Package -> the extras pyproject.toml asks of it (`dramatiq[redis,rabbitmq]`, ...)."""
    asked: dict[str, set[str]] = {}
    for requirement in _requirements(*extras):
        asked.setdefault(canonicalize_name(requirement.name), set()).update(requirement.extras)
    return asked


@pytest.mark.locked_env
@pytest.mark.parametrize(
    ("lock", "extras"), [(RUNTIME, ()), (DEV, ("sandbox", "dev"))], ids=["runtime", "dev"]
)
def test_each_lock_is_closed_under_dependencies(
    lock: dict[str, Pin], extras: tuple[str, ...]
) -> None:
    """`--no-deps` installs nothing but the list: every locked package's own requirements (read
    from its installed metadata, which is the locked version here), those of the extras asked
    of it included, are in the same lock."""
    asked = _extras_asked(extras)
    for package, pin in lock.items():
        if not pin.applies():
            continue
        installed = metadata.distribution(package)
        assert installed.version == pin.version, f"{package}: the venv is not the lock"
        environments = [{"extra": extra} for extra in {"", *asked.get(package, ())}]
        for text in installed.requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate(env) for env in environments):
                dependency = canonicalize_name(requirement.name)
                assert dependency in lock, f"{package} needs {dependency}"
                assert requirement.specifier.contains(lock[dependency].version, prereleases=True)


@pytest.mark.locked_env
def test_this_environment_is_exactly_the_lock() -> None:
    assert drift(DEV, installed_now()) == []


def test_drift_names_every_difference() -> None:
    lock = {
        "aiohttp": Pin("3.14.5", None, frozenset({HASH + "1"})),
        "redis": Pin("8.2.0", None, frozenset({HASH + "2"})),
        "colorama": Pin("0.4.6", "sys_platform == 'win32'", frozenset({HASH + "3"})),
        "rich": Pin("15.0.0", None, frozenset({HASH + "4"})),
    }
    installed = parse_freeze("aiohttp==3.14.5\nredis==8.1.0\nrequests==2.33.0\n")
    assert drift(lock, installed) == [
        "redis 8.1.0 is installed, the lock says 8.2.0",
        "rich 15.0.0 is locked but not installed",
        "requests 2.33.0 is installed but not locked",
    ]
    same = {"aiohttp": "3.14.5", "redis": "8.2.0", "rich": "15.0.0"}  # colorama: Windows only
    assert drift(lock, same) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("redis==8.2.0\n", "no hash"),
        ("redis>=8 \\\n    --hash=sha256:" + HASH + "a\n", "not an exact pin"),
        (
            "redis==8.2.0 --hash=sha256:" + HASH + "a\nRedis==8.2.0 --hash=sha256:" + HASH + "b\n",
            "pinned twice",
        ),
    ],
)
def test_a_lock_pip_would_refuse_is_refused_here(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_lock(text)


def test_a_universal_lock_entry_is_read_with_its_marker_and_every_hash() -> None:
    text = (
        "# made by make lock\n"
        "async-timeout==5.0.1 ; python_full_version < '3.11.3' \\\n"
        f"    --hash=sha256:{HASH}a \\\n"
        f"    --hash=sha256:{HASH}b\n"
        "    # via aiohttp\n"
    )
    pin = parse_lock(text)["async-timeout"]
    assert pin == Pin(
        "5.0.1", "python_full_version < '3.11.3'", frozenset({HASH + "a", HASH + "b"})
    )

"""Every settings file we show loads with `load_settings`, as a reader would copy it.

The examples are found, not listed, so a new one is covered without editing this file:

- each ```toml fenced block in the top-level markdown files, deploy/ and docs/;
- each `*.toml` file under deploy/;
- each `*.toml` key of a Kubernetes ConfigMap under deploy/.

An example that declares a whole tenant (every `[tenants.<id>]` in it has `source` and
`provider`) is *complete* and is loaded as it stands. Anything else is a *fragment*: a table
or two shown on its own (`[tenants.acme.limits]`, `[redis]` for Sentinel). A fragment is
merged, key by key with its own keys winning, into BASE, the smallest file that loads (one
Shopify tenant `acme` on iCount), and the merged file is loaded; the test id says which was
done. So a fragment must be valid on top of a plain tenant named `acme`, and bring along
what it needs (the alerts example brings its `[tenants.acme.smtp]`).

Secrets are stood in for: each `env:NAME` the example names is set to a fake value, and
each `file:PATH` is pointed at a fake file under tmp_path. Commented-out lines are not
checked (they are not TOML); an example whose keys matter should show them live.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from worker.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
#: where the markdown that may show a settings file lives
MARKDOWN = ("*.md", "deploy/**/*.md", "docs/**/*.md")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
#: a fragment is merged into this: one tenant, nothing else, the smallest file that loads
BASE: dict[str, Any] = {
    "tenants": {
        "acme": {
            "source": "shopify",
            "secret": "base-webhook-secret",
            "provider": "icount",
            "icount": {"api_token": "base-api-token"},
        }
    }
}
FAKE = "FAKE-stand-in-secret-{}"  # long enough for an admin token


@dataclass(frozen=True)
class Example:
    source: str  #: the file, relative to the repository
    line: int  #: where the TOML starts in it (1-based)
    text: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}"


def _fenced_toml(path: Path) -> Iterator[Example]:
    lines = path.read_text().splitlines()
    opened: tuple[int, str, str, str] | None = None  # start, indent, fence, info
    for number, line in enumerate(lines, start=1):
        match = FENCE.match(line)
        if opened is None:
            if match:
                opened = (number, match["indent"], match["fence"], match["info"])
            continue
        start, indent, fence, info = opened
        if match and match["fence"].startswith(fence) and not match["info"]:
            if info.lower() == "toml":
                body = [text.removeprefix(indent) for text in lines[start : number - 1]]
                yield Example(str(path.relative_to(ROOT)), start + 1, "\n".join(body) + "\n")
            opened = None


def _configmap_toml(path: Path) -> Iterator[Example]:
    lines = path.read_text().splitlines()
    for document in yaml.safe_load_all(path.read_text()):
        if not isinstance(document, dict) or document.get("kind") != "ConfigMap":
            continue
        for key, text in (document.get("data") or {}).items():
            if key.endswith(".toml"):
                heads = [n for n, line in enumerate(lines, 1) if line.strip() == f"{key}: |"]
                yield Example(str(path.relative_to(ROOT)), heads[0] + 1 if heads else 1, text)


def find_examples() -> list[Example]:
    found: list[Example] = []
    for pattern in MARKDOWN:
        for path in sorted(ROOT.glob(pattern)):
            found += _fenced_toml(path)
    found += [
        Example(str(path.relative_to(ROOT)), 1, path.read_text())
        for path in sorted((ROOT / "deploy").glob("**/*.toml"))
    ]
    for suffix in ("yaml", "yml"):
        for path in sorted((ROOT / "deploy").glob(f"**/*.{suffix}")):
            found += _configmap_toml(path)
    return found


EXAMPLES = find_examples()


def is_complete(raw: dict[str, Any]) -> bool:
    tenants = raw.get("tenants")
    return (
        isinstance(tenants, dict)
        and bool(tenants)
        and all(
            isinstance(t, dict) and {"source", "provider"} <= t.keys() for t in tenants.values()
        )
    )


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` laid over it: tables merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list) and not any(isinstance(item, dict) for item in value):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML here")


def to_toml(table: dict[str, Any], path: tuple[str, ...] = ()) -> str:
    """Just enough of a TOML writer for settings: scalars, lists, tables, arrays of tables."""
    head = ".".join(json.dumps(part) for part in path)
    nested = {k: v for k, v in table.items() if isinstance(v, dict)}
    arrays = {
        k: v
        for k, v in table.items()
        if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)
    }
    text = f"[{head}]\n" if path else ""
    for key, value in table.items():
        if key not in nested and key not in arrays:
            text += f"{json.dumps(key)} = {_value(value)}\n"
    for key, value in nested.items():
        text += to_toml(value, (*path, key))
    for key, items in arrays.items():
        for item in items:
            body = to_toml(item, (*path, key)).split("\n", 1)[1]
            text += f"[[{'.'.join(json.dumps(p) for p in (*path, key))}]]\n{body}"
    return text


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def stand_in_secrets(
    text: str, raw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Set each `env:NAME`; point each `file:PATH` at a fake file (the text, rewritten)."""
    refs = set(_strings(raw))
    for name in sorted(ref[4:] for ref in refs if ref.startswith("env:")):
        monkeypatch.setenv(name, FAKE.format(name))
    for ref in sorted((r for r in refs if r.startswith("file:")), key=len, reverse=True):
        stand_in = tmp_path / "files" / ref[5:].lstrip("/")
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text(FAKE.format(stand_in.name) + "\n")
        text = text.replace(ref, f"file:{stand_in}")
    return text


def load_example(example: Example, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Load `example` as the test does: as it stands if complete, else merged into BASE."""
    try:
        raw = tomllib.loads(example.text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{example}: not valid TOML: {exc}") from None
    text = example.text
    if not is_complete(raw):
        raw = merged(BASE, raw)
        text = to_toml(raw)
        assert tomllib.loads(text) == raw, "the merged fragment did not survive writing"
    path = tmp_path / "config.toml"
    path.write_text(stand_in_secrets(text, raw, tmp_path, monkeypatch))
    return load_settings(path)


def _id(example: Example) -> str:
    try:
        kind = "complete" if is_complete(tomllib.loads(example.text)) else "fragment"
    except tomllib.TOMLDecodeError:
        kind = "not TOML"  # fails in the test, with the parser's message
    return f"{example}({kind})"


@pytest.mark.parametrize("example", EXAMPLES, ids=_id)
def test_the_example_loads(
    example: Example, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        settings = load_example(example, tmp_path, monkeypatch)
    except SettingsError as exc:
        pytest.fail(f"{example} does not load: {exc}", pytrace=False)
    assert settings.tenants


def test_every_kind_of_example_is_found() -> None:
    """The search reaches each kind of place (a broken search would pass everything)."""
    sources = {example.source for example in EXAMPLES}
    assert {
        "README.md",
        "docs/operations.md",
        "deploy/config.example.toml",
        "deploy/config.compose.toml",
        "deploy/k8s/configmap.yaml",
    } <= sources
    assert sum(example.source == "README.md" for example in EXAMPLES) >= 5
    configmap = next(e for e in EXAMPLES if e.source == "deploy/k8s/configmap.yaml")
    text = (ROOT / configmap.source).read_text().splitlines()
    assert text[configmap.line - 1].strip() == configmap.text.splitlines()[0]


MISPLACED = """
[tenants.acme.icount]
api_token = "env:ICOUNT_TOKEN"
rate_limit_per_s = 100
rate_limit_burst = 6000
"""
MISPLACED_IN_FULL = (
    """
[tenants.acme]
source = "shopify"
secret = "env:ACME_SHOPIFY_SECRET"
provider = "icount"
"""
    + MISPLACED
)


@pytest.mark.parametrize("text", [MISPLACED_IN_FULL, MISPLACED], ids=["complete", "fragment"])
def test_a_key_in_the_wrong_table_fails_the_check(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rate limit is a tenant key: under the provider's table the file is refused,
    whether the example is complete or a fragment merged into BASE."""
    with pytest.raises(SettingsError, match=r"tenants\.acme\.icount\.rate_limit_per_s"):
        load_example(Example("MISPLACED", 1, text), tmp_path, monkeypatch)

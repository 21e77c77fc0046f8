"""Scan every value of a Redis server for card numbers: all databases, all keys, every type
(string, hash fields and values, list items, set members, sorted-set members and scores,
stream entry ids, fields and values), and the key names themselves."""

from __future__ import annotations

from collections.abc import Iterator

import redis

from tests.card_scan import find_card_numbers, mask_cards

#: what one SCAN, LRANGE or XRANGE call fetches at a time
BATCH = 1000
#: how long the scan waits for the server to answer one call (s)
SOCKET_TIMEOUT_S = 10.0


def _bytes(value: object) -> bytes:
    """A reply as bytes (redis-py's types allow str and None too)."""
    if isinstance(value, bytes):
        return value
    return b"" if value is None else str(value).encode()


def _databases(client: redis.Redis) -> list[int]:
    keyspace = client.info("keyspace")
    return sorted(int(name.removeprefix("db")) for name in keyspace)


def _list_items(client: redis.Redis, key: bytes) -> Iterator[tuple[str, bytes]]:
    start = 0
    while batch := client.lrange(key, start, start + BATCH - 1):
        for offset, item in enumerate(batch):
            yield f"item {start + offset}", _bytes(item)
        start += BATCH


def _stream_entries(client: redis.Redis, key: bytes) -> Iterator[tuple[str, bytes]]:
    low = b"-"
    while entries := client.xrange(key, min=low, count=BATCH):
        for entry_id, fields in entries:
            entry = _bytes(entry_id).decode()
            yield "entry id", _bytes(entry_id)
            for field, value in (fields or {}).items():
                yield f"entry {entry} field", _bytes(field)
                yield f"entry {entry} value of {mask_cards(_bytes(field))!r}", _bytes(value)
        low = b"(" + _bytes(entries[-1][0])


def _parts(client: redis.Redis, key: bytes, kind: str) -> Iterator[tuple[str, bytes]]:
    """(what it is, its bytes) for every piece of data the key holds."""
    if kind == "string":
        yield "value", _bytes(client.get(key))
    elif kind == "hash":
        for field, value in client.hscan_iter(key, count=BATCH):
            yield "field", _bytes(field)
            yield f"value of field {mask_cards(_bytes(field))!r}", _bytes(value)
    elif kind == "list":
        yield from _list_items(client, key)
    elif kind == "set":
        for member in client.sscan_iter(key, count=BATCH):
            yield "member", _bytes(member)
    elif kind == "zset":
        for member, score in client.zscan_iter(key, count=BATCH):
            yield "member", _bytes(member)
            yield f"score of member {mask_cards(_bytes(member))!r}", repr(score).encode()
    elif kind == "stream":
        yield from _stream_entries(client, key)
    else:
        raise ValueError(f"key of type {kind!r}: the card scan cannot read it")


def _scan_database(client: redis.Redis, db: int) -> Iterator[str]:
    for key in client.scan_iter(count=BATCH):
        kind = _bytes(client.type(key)).decode()
        if kind == "none":  # expired or deleted since SCAN named it
            continue
        key = _bytes(key)
        parts = [("key name", key)]
        try:
            parts += list(_parts(client, key, kind))
        except redis.ResponseError:  # gone or changed type between SCAN and reading it
            continue
        for what, data in parts:
            for finding in find_card_numbers(data):
                card = f"{finding.scheme} card ending {finding.last4}"
                yield f"db{db} {kind} {mask_cards(key)!r} {what}: {card} in {finding.excerpt}"


def scan_redis(host: str, port: int) -> list[str]:
    """Where each card number stored in the Redis at `host:port` is, with a masked excerpt.

    Raises:
        redis.RedisError: the server does not answer (nothing could be scanned).
    """
    findings: list[str] = []
    first = redis.Redis(host=host, port=port, socket_timeout=SOCKET_TIMEOUT_S)
    try:
        databases = _databases(first)
    finally:
        first.close()
    for db in databases:
        client = redis.Redis(host=host, port=port, db=db, socket_timeout=SOCKET_TIMEOUT_S)
        try:
            findings += _scan_database(client, db)
        finally:
            client.close()
    return findings

"""Our Standard Webhooks verifier held to the reference library (`standardwebhooks`, a dev-only
dependency): the same verdict on random deliveries, and each accepts what the other signs.

Deliveries vary the body, the message id, the secrets configured (one to three at once, as
during a rotation, each padded or unpadded, with or without `whsec_`), who signed (configured
secrets, strangers, either library, a changed body) and the timestamp, around and far from
the 300 s tolerance. The reference reads the clock itself, so its module's `datetime` is
frozen at our `now` for each call.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from standardwebhooks import webhooks as reference
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from handlers.errors import InvalidSignature
from handlers.sources import standard
from worker.domain.whsec import whsec_key

EXAMPLES = 400
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@dataclass(frozen=True)
class Secret:
    """One signing key, written the way a tenant might configure it."""

    key: bytes
    padded: bool
    prefixed: bool

    def text(self) -> str:
        encoded = base64.b64encode(self.key).decode("ascii")
        return ("whsec_" if self.prefixed else "") + (
            encoded if self.padded else encoded.rstrip("=")
        )


@dataclass(frozen=True)
class Delivery:
    body: bytes
    msg_id: str
    timestamp: int
    signature: str

    def headers(self) -> dict[str, str]:
        return {
            "webhook-id": self.msg_id,
            "webhook-timestamp": str(self.timestamp),
            "webhook-signature": self.signature,
        }


secrets = st.builds(Secret, st.binary(min_size=1, max_size=64), st.booleans(), st.booleans())
#: what an HTTP header value can carry once the server stripped it: no controls, no line breaks
msg_ids = (
    st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=40)
    .map(str.strip)
    .filter(bool)
)
_instants = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
)
#: the receiver's clock: on a whole second half the time, so the edges are met exactly
moments = _instants | _instants.map(lambda moment: moment.replace(microsecond=0))
#: seconds between `now` and the timestamp: inside, at and just past the edges, and far off
offsets = st.one_of(
    st.integers(-300, 300),
    st.sampled_from([-302, -301, -300, -299, 0, 299, 300, 301, 302]),
    st.integers(-(10**6), 10**6),
)


@contextmanager
def reference_clock(now: datetime) -> Iterator[None]:
    """The reference library's `datetime.now()` returns `now` while inside."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Frozen:
            moment = cls.combine(now.date(), now.timetz())
            return moment if tz is None else moment.astimezone(tz)

    with mock.patch.object(reference, "datetime", Frozen):
        yield


def ours_accept(delivery: Delivery, configured: list[Secret], now: datetime) -> bool:
    """Our verdict; inside a hypothesis test it is recorded, with our reason for a refusal."""
    try:
        standard.verify(delivery.body, delivery.headers(), [s.text() for s in configured], now)
    except InvalidSignature as exc:
        verdict, accepted = f"refused: {exc.detail}", False
    else:
        verdict, accepted = "accepted", True
    if currently_in_test_context():
        event(verdict)
    return accepted


def reference_accepts(delivery: Delivery, configured: list[Secret], now: datetime) -> bool:
    """Accepted by any configured secret: the library takes one secret per `Webhook`."""
    accepted = False
    with reference_clock(now):
        for secret in configured:
            try:
                Webhook(secret.text()).verify(delivery.body, delivery.headers(), json_parse=False)
            except WebhookVerificationError:
                continue
            accepted = True
    return accepted


def reference_sign(secret: Secret, msg_id: str, timestamp: int, body: bytes) -> str:
    return Webhook(secret.text()).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)


def standard_sign(secret: Secret, msg_id: str, timestamp: int, body: bytes) -> str:
    return standard.sign(body, secret.text(), msg_id, timestamp)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[Delivery, list[Secret], datetime]:
    """A delivery, the secrets the receiver holds, and the receiver's clock."""
    configured = draw(st.lists(secrets, min_size=1, max_size=3))
    now = draw(moments)
    body, msg_id = draw(st.binary(max_size=300)), draw(msg_ids)
    timestamp = int(now.timestamp()) + draw(offsets)
    signers = draw(st.lists(st.sampled_from(configured) | secrets, max_size=3))
    entries = []
    for signer in signers:
        signed_body = body + b"!" if draw(st.integers(0, 3)) == 0 else body  # tampered
        sign = reference_sign if draw(st.booleans()) else standard_sign
        entries.append(sign(signer, msg_id, timestamp, signed_body))
    entries += draw(st.lists(st.sampled_from(["v1a,c2lnbmF0dXJl", "v1,", "v2,abc", "junk"])))
    order = draw(st.permutations(entries))
    return Delivery(body, msg_id, timestamp, " ".join(order) or "v1,"), configured, now


@PROPERTY
@given(deliveries())
def test_same_verdict_as_the_reference(case: tuple[Delivery, list[Secret], datetime]) -> None:
    """Our verifier and the reference library accept and refuse the same deliveries."""
    delivery, configured, now = case
    assert ours_accept(delivery, configured, now) == reference_accepts(delivery, configured, now)


@PROPERTY
@given(
    st.lists(secrets, min_size=1, max_size=3),
    st.data(),
    st.binary(max_size=300),
    msg_ids,
    moments,
    st.integers(-299, 300),  # within 300 s of `now` (a fraction of a second past a whole one)
)
def test_each_accepts_what_the_other_signs(
    configured: list[Secret],
    data: st.DataObject,
    body: bytes,
    msg_id: str,
    now: datetime,
    offset: int,
) -> None:
    """A signature either library makes with one of the secrets verifies in the other, whichever
    way each side writes the secret (padded or not); the two make the same signature."""
    signer = data.draw(st.sampled_from(configured))
    written = data.draw(st.builds(Secret, st.just(signer.key), st.booleans(), st.booleans()))
    timestamp = int(now.timestamp()) + offset
    ours = standard_sign(written, msg_id, timestamp, body)
    theirs = reference_sign(signer, msg_id, timestamp, body)
    assert ours == theirs
    by_them, by_us = (Delivery(body, msg_id, timestamp, sig) for sig in (theirs, ours))
    assert ours_accept(by_them, configured, now)
    assert reference_accepts(by_us, configured, now)


BASE64ISH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n"


@PROPERTY
@given(st.text(BASE64ISH, max_size=60), st.booleans())
def test_a_secret_we_take_is_the_key_the_reference_takes(text: str, prefixed: bool) -> None:
    """Any secret text our decoder accepts signs as it does in the reference library; what we
    refuse (stray characters it would drop, wrong padding) is refused at start-up instead."""
    secret = ("whsec_" if prefixed else "") + text
    try:
        whsec_key(secret)
    except ValueError:
        event("refused by us")
        return
    event("accepted by both")
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    theirs = Webhook(secret).sign("msg_1", moment, b"{}")
    assert standard.sign(b"{}", secret, "msg_1", int(moment.timestamp())) == theirs


@pytest.mark.parametrize("offset", [-301, -300, 300, 301])
def test_reference_clock_is_frozen(offset: int) -> None:
    """The frozen clock is what the reference reads: its tolerance edges are ours, both ways."""
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    secret = Secret(b"k" * 24, padded=False, prefixed=True)
    timestamp = int(now.timestamp()) + offset
    delivery = Delivery(
        b"{}", "msg_1", timestamp, reference_sign(secret, "msg_1", timestamp, b"{}")
    )
    expected = abs(offset) <= 300
    assert reference_accepts(delivery, [secret], now) is expected
    assert ours_accept(delivery, [secret], now) is expected

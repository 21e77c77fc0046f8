"""Standard Webhooks signing secrets: `whsec_` + base64, and the HMAC key they stand for.

Pure, shared by the receiver's verifier (handlers/sources/standard.py) and the start-up check
of tenant settings (worker/settings/tenant.py), so both read a secret the same way.
"""

from __future__ import annotations

import base64

PREFIX = "whsec_"
#: what is wrong with a secret that is refused; never the secret itself
PROBLEM = "not whsec_ followed by base64 (padded or not)"


def whsec_key(secret: str) -> bytes:
    """The key a Standard Webhooks secret stands for: the bytes of the base64 after `whsec_`
    (the prefix may be left out).

    The padding may be left out too, as the reference libraries allow (they decode the text
    with `==` added). Anything else that is not standard base64 is refused, where they would
    drop the stray characters (`-`, `_`, spaces) and key the HMAC with other bytes than the
    sender's.

    Raises:
        ValueError: not base64, padded or unpadded, or no key at all; the message is
            `PROBLEM`, without the secret.
    """
    text = secret.removeprefix(PREFIX)
    digits = text.rstrip("=")
    padding = "=" * (-len(digits) % 4)
    key = b""
    if text in (digits, digits + padding):  # unpadded, or padded just as base64 pads
        try:
            key = base64.b64decode(digits + padding, validate=True)
        except ValueError:  # binascii.Error, or a non-ASCII secret
            pass
    if not key:
        raise ValueError(PROBLEM)
    return key

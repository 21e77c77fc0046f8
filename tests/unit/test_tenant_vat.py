"""A tenant's default VAT rate is its provider's country's standard rate unless its settings
name one; a rate they name is taken as given (issue 17, item 9)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from invoicebridge.stack.config import SANDBOX_ICASH
from worker.settings import DocumentSettings, TenantSettings
from worker.settings.tenant import COUNTRY_VAT, STANDARD_VAT

PROVIDER_TABLES: dict[str, dict[str, Any]] = {
    "icount": {"api_token": "t"},
    "idoklad": {"client_id": "c", "client_secret": "s"},
    "icash": {"api_key": "k", "secret_key": "s", "warehouse_id": 1, "user_id": 1, **SANDBOX_ICASH},
}


def _tenant(provider: str, **extra: Any) -> TenantSettings:
    data = {
        "source": "shopify",
        "secret": "s",
        "provider": provider,
        provider: PROVIDER_TABLES[provider],
        **extra,
    }
    if provider == "icash":
        data.setdefault("documents", {})["email"] = False
    return TenantSettings.model_validate(data)


@pytest.mark.parametrize(("provider", "rate"), [("icount", 18), ("idoklad", 21), ("icash", 20)])
def test_the_default_is_the_countrys_standard_rate(provider: str, rate: int) -> None:
    """Israel 18, Czechia 21, Bulgaria 20, with or without a [documents] table."""
    assert _tenant(provider).documents.default_vat_percent == Decimal(rate)
    with_table = _tenant(provider, documents={"payment_method": "cash"})
    assert with_table.documents.default_vat_percent == Decimal(rate)
    assert with_table.documents.payment_method == "cash"  # the rest of the table is kept
    assert _tenant(provider).vat_fits_country()


def test_a_documents_model_without_the_rate_gets_the_countrys() -> None:
    """Settings built in code (a DocumentSettings that leaves the rate out) get it too."""
    tenant = _tenant("idoklad", documents=DocumentSettings(email=False))
    assert tenant.documents.default_vat_percent == Decimal(21)
    assert tenant.documents.email is False


@pytest.mark.parametrize(
    "documents", [{"default_vat_percent": 17}, DocumentSettings(default_vat_percent=Decimal(17))]
)
def test_an_explicit_rate_is_taken_as_given(documents: Any) -> None:
    """The merchant knows: a rate the settings name is kept even if the country has no such
    rate (17 %, Israel's rate before 2025); `vat_fits_country` says it does not fit."""
    tenant = _tenant("icount", documents=documents)
    assert tenant.documents.default_vat_percent == Decimal(17)
    assert not tenant.vat_fits_country()


def test_each_standard_rate_is_one_of_its_countrys() -> None:
    assert all(STANDARD_VAT[p] in COUNTRY_VAT[p] for p in STANDARD_VAT)

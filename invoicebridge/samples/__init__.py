"""Synthetic webhooks of each source whose totals, taxes and discounts agree: Shopify
(`shopify`, `shopify_refunds`), WooCommerce, Stripe and the Standard source."""

"""The audience blueprints (storefront, auth, sharer, merchant, admin) and the helpers they
share (shop.web.common)."""

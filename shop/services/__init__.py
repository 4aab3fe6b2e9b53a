"""The rules of the shop: plain functions over models. They flush, never commit, and never read
the request or the signed-in user; views pass ``actor=`` and ``now=`` explicitly."""

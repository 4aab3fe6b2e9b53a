"""Reviews, their moderation, and the merchant credit score computed from them."""

"""Checkout rules, the order state machine and payments."""

"""Sharer teams: invite codes, one-time binding to a leader, and the override rates."""

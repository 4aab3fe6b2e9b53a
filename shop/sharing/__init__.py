"""Sharers' shops, share links, clicks and who earns an order (attribution), posters, and
the click rollups kept as clicks are written."""

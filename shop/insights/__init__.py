"""What the numbers say: a sharer's stats, the admin overview, team numbers, exports, charts
and the admin queues. Reads what the domains below keep; writes nothing of theirs."""

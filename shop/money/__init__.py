"""The rebate ledger, payouts and earnings; the sales and ledger rollups kept in the same
transactions; fraud flags and the holds that stop payouts."""

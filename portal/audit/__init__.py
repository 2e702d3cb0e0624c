"""The audit trail: an append-only log of who did what to which record, chained with a keyed MAC."""

"""Referrals: the state machine from an approved match to its outcome, and the provider's inbox."""

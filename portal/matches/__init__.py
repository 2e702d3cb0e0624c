"""Matches: the bridge between the portal's records and the matching engine."""

"""The matching engine: a pure library that ranks offers for needs (built in the matching issue)."""

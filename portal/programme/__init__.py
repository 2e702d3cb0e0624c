"""The anti-drug specialist's pages: the programme agreement, its report-ins and tests."""

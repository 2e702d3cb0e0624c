"""Follow-ups: what a caseworker must attend to so that nobody drops out of contact (防脱失)."""

"""People on caseloads: profiles, needs assessments and the contact log."""

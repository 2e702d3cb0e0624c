"""Organizations: the admin's verification queue and each organization's page."""

"""User accounts as admins manage them: staff accounts, volunteer verification, deactivation."""

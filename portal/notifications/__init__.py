"""Notifications: each user's in-app list, and the e-mail that may go with it."""

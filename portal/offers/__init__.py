"""Offers: services, jobs and volunteers' help, and the directory staff browse."""

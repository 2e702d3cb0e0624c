"""Volunteers' hours: logged by the volunteer, confirmed by an organization or a caseworker, added up."""

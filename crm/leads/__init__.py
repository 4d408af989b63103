"""Leads: the projects a unit courts, their stages, officers, contacts, blockers and funds."""

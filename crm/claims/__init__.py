"""Milestone claims (申报), their evidence files and the bureau's review (核验)."""

"""A user's own account: API tokens (the profile page)."""

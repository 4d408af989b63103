"""Administration: users (create, edit, deactivate, reset password) and everyone's API tokens."""

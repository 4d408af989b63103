"""Users, roles, sign-in and the one policy module (permissions.py)."""

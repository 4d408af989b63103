"""Spreadsheet exports (leads, visits) and the admin's backup download."""

"""Importing leads from spreadsheets (.xlsx, .csv): read, map, preview, then all or nothing."""

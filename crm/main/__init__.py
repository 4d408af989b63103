"""Home page, error pages and template helpers."""

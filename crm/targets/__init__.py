"""Yearly targets per unit and metric."""

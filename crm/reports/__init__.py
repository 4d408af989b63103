"""Periodic reports: the monthly report (月报)."""

"""Visits (走访 / 洽谈记录) logged against leads."""

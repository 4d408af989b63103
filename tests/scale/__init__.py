"""Tests at scale: data volume and several processes."""

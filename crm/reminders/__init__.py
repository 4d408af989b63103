"""Reminders: the daily and weekly mails and the dispatch log that sends each exactly once."""

"""Statistics: SQL aggregates behind every number on the pages, in the API and in the mail."""

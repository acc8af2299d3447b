"""Reusable widgets: a table that updates in place, and the `/` filter bar."""

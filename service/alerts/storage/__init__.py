"""The alerts' table and repository."""

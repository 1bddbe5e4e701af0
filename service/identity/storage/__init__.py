"""Identity's storage: its rows and repositories."""

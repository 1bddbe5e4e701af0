"""Identity's use cases."""

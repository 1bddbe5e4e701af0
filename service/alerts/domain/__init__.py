"""The alert as a value, who may see it, its errors and events."""

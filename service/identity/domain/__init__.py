"""Identity's pure rules: organisations, API keys, tenancy (prefixes and partners), scanner
sessions, with their errors and events."""

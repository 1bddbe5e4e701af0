"""Identity's routes: organisations, their company prefixes, partners and API keys, and the
scanner sessions of the distributors' phones."""

"""Identity: the organisations (brands, factories, partners, auditors), their GS1 company
prefixes and partner grants, API keys with their roles, and the scanner sessions of the
distributors' phones. Other areas use it only through ``service.identity.interface``."""

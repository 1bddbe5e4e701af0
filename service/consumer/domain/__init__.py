"""The consumer's pure rules: accounts, the certificate's state machine, scan risks and
verification, with their errors and events."""

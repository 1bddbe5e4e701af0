"""The consumer's storage: its rows, the account and certificate repositories, credentials
(wallet keys, one-time codes, session tokens), the certificate's confirmation handler, and the
scan log with its hot-path reads and spill file."""

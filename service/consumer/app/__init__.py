"""The consumer's use cases: sign-in and accounts, claims, the certificate's steps (gift, pledge,
deposit, redeem), and verifying a scanned code."""

"""The consumer's routes and pages: the scan and verify resolver (GS1 Digital Link, JSON or
the scan page), accounts and sessions, claims, the certificate's steps, and the consumer pages."""

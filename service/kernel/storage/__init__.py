"""The kernel's storage: the one SQLAlchemy base, the engines and migrations, the event log's and
idempotency keys' tables, the session lifecycle and the SQL helpers every area's storage shares.
The only part of the kernel that may import SQLAlchemy and the database drivers."""

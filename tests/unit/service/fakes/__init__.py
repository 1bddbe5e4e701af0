"""In-memory ``Fake*`` implementations of the areas' ports, for unit tests, one module per area
(``identity``, ``factory``, ``channel``, ``alerts``, ``ledger``, ``consumer``, ``kernel``), the
state they share (``state``), the unit of work over it (``database``), and the seeded world the
use-case tests start from (``world``).

Each fake keeps the semantics the handlers rely on from its ``SqlAlchemy*`` counterpart in
the SQLAlchemy repositories: unique constraints raise ``DuplicateError``, conditional
updates return False when the row is not in the expected state (another caller won), and nothing
a unit of work does is visible to anyone else until it commits.

Batch trees are real (``chain.merkle``), so a proof read from the stored levels verifies against
the stored root exactly as it does in production; the other hashes are SHA-256 stand-ins.
"""

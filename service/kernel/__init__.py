"""The shared kernel: what every business area of the service needs and none of them owns.

It holds the ids (GS1), the root and generic errors, the actor and its roles, the event base
with its canonical bytes, the ports every area's unit of work shares (the event log, the clock,
idempotency) and, under ``kernel/storage``, the one SQLAlchemy base they are stored with. It
imports no area: an area's rules, ports and storage live in ``service/<area>/``, and what one
area may use of another is that area's ``interface.py``. Nothing goes here only because two
areas happen to use it; it goes here when every area must agree on it.
"""

"""The touchpoints' tables on SQLAlchemy: checkpoints, stages reached, and the facts the
projector keeps about certificates and wallets (all rebuilt from the feed)."""

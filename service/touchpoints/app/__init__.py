"""The touchpoints' use cases: the projector that applies the feed, and the funnel it reads."""

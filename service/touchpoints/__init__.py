"""Touchpoints: what consumers' scans, claims and certificate steps feed the brand's marketing.
This first part is the feed itself (a projector over the event log and the consumer-scan stream,
with durable checkpoints) and the journey it moves. Other areas use it only through
``service.touchpoints.interface``."""

"""The factory: products, batches and their codes, label printing, activation, anchoring,
recall and attestation. Other areas use it only through ``service.factory.interface``."""

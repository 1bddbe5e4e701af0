"""The channel's pure rules: custody and diversion, regions, the EPCIS model, strict JSON, with
their errors and events."""

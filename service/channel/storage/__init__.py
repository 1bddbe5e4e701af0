"""The channel's storage: its rows, the network and custody repositories with their fast SQL,
the region directory, the EPCIS event store, schema and hashing."""

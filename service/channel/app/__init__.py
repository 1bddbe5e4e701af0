"""The channel's use cases: its network (regions, territories, parents, sites), scans and
shipments, stock, consumer-sighted diversions and the EPCIS interface."""

"""The channel: regions and territories, distributors' and stores' sites, shipments and scans,
custody, diversion and EPCIS. Other areas use it only through ``service.channel.interface``."""

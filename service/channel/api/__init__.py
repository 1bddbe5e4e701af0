"""The channel's routes: regions, organisations' territories, parents and sites, scans and
shipments, stock, the EPCIS 2.0 capture and query interface, and the scanner page."""

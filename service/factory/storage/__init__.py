"""The factory's storage: its rows, the product, batch, code, code-file and attestation
repositories with their fast SQL, the label printer, and the confirmation handler of a batch's
chain writes."""

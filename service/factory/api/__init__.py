"""The factory's routes: products, batches and their codes, labels and proofs."""

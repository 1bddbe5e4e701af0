"""The factory's use cases: products, batches, codes and their activation, printing."""

"""The factory's pure rules: products, batches, codes and PINs, packing units, label layouts,
with their errors and events."""

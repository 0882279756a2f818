"""One module per model flavor; ``base`` finds the right one without importing libraries."""

"""Data in and out: file layouts, readers/validators, and the synthetic retail chain."""

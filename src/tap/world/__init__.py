"""The embedded tiny world: item generators, a vendor-like cohort generator, a tiny policy."""

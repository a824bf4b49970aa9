"""Real datasets: presets for public RL datasets, loaders and cohort chunking."""

"""``run.lock``: what a run was made of (config, code, data, previous stages), and checks on it."""

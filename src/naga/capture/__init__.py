"""What naga records about a command: its process, its git state and its environment."""

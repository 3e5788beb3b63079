"""Configuration: ``naga.clicfg`` merges defaults, config files, command-line overrides and
Python keyword arguments through one strict path, on OmegaConf."""

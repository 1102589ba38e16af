"""trainsim's sweep launchers, where Hydra finds launcher plugins (hydra_plugins.*)."""

"""Experiments: running replicates, sweeps and their results on disk, statistics,
paired decisions, figures, the report and the bench."""

"""Configuration: Hydra schemas and validation of a composed config into pure,
validated specs. Knows nothing of graphs (elaboration builds them:
simulator/elaborate.py)."""

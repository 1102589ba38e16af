"""The fabric: accelerators, topology graphs, routing, flows, collectives and the
step model (a workload's step time on a fabric). No Hydra, no SimPy."""

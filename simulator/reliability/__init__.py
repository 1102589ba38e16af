"""The reliability model in SimPy: failure models and sources, the cluster with
its spares and repairs, checkpoint and restart policies, the training job
and its ledger, and the frozen Scenario they consume. No Hydra."""

"""`python -m simulator.report`: the report of a run or sweep directory.

The command's code lives in simulator/experiments/report.py; this module keeps the
command's name.
"""

from simulator.experiments.report import main

if __name__ == "__main__":
    raise SystemExit(main())

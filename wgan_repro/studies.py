"""Where the studies lived before the run layer became a package: runs and checkpoints written then record
`study._target_: wgan_repro.studies.<Study>`, which must keep loading (tests/test_layout.py)."""

from wgan_repro.runs.studies import OptimalCritic, ParallelLines  # noqa: F401 - the recorded _target_ paths

"""The run layer: one run around Algorithm 1, and everything that makes runs reliable.

- `runner`: validate, resume or skip, build, track, train, finish (a single run, an ensemble, a study)
- `train`: the loop, Algorithm 1 line by line, then its bookkeeping
- `setup`: seeding, the device, optimisers, and building data, networks, objective, constraint and evaluator
- `checkpoint`: what a run saves to continue, and which run `train.resume` continues
- `ensemble`: K toy runs trained as one batched computation (which runs a config trains: `wgan_repro.members`,
  below the config layer that refuses what an ensemble cannot do)
- `sweep`: a sweep's parent run (a Hydra callback)
- `studies`: Figures 1 and 3, critics fitted to optimality (no generator)
- `stopping`: SIGTERM and Ctrl-C end a run cleanly, checkpointed
"""

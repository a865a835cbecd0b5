"""Evaluation (conf/eval): quality metrics and figures every eval.every generator iterations, and at the end.

The evaluator is a configured component: each data preset picks its `eval` choice (toy, images, digits,
stacked_digits), whose `_target_` names the class. Measuring never changes training: every evaluation draws
its noise and its real samples from its own generator, seeded from train.seed and re-seeded at each call; the
global RNG (which building a network's layers draws from) is restored afterwards, and so are the networks'
buffers (batch-norm running statistics, which a forward pass in training mode updates). Two runs that differ
only in eval.every or eval.at_start end with the same weights.

The base class and its builder are evaluator.py; every metric's key, space, direction and words, metrics.py (which
loads no torch: importing this package loads nothing either).
"""

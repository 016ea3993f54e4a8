"""Benchmarks: every figure is printed next to a baseline measured in the same run.

Why ratios: this 2-core machine is shared and noisy; an absolute number alone says little, a ratio
against a baseline run minutes apart on the same node says how much our code costs. Run all with
``python -m bench`` (``--quick`` for a small run); results go to ``bench/results/latest.json``.
"""

"""Training building blocks, each importable on its own (no Lightning at import time).

- `sarssm.train.losses`: complex-aware losses, their registry and `WeightedSumLoss`.
- `sarssm.train.optim`: AdamW parameter groups (SSM dynamics, no-decay, decay).
- `sarssm.train.schedule`: linear warm-up + cosine learning-rate schedule.
"""

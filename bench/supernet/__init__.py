"""The SPOS single-path one-shot supernet (ShuffleNetV2 choice blocks): model, checkpoints, FLOPs, evaluator."""

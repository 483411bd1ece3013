"""Constraints: rules applied to logits between the model and the sampler."""

"""Losses and the one training loop every method uses."""

"""Item towers over frozen encoders: IISAN-Versa side adapters and the baselines.

Importing a family's module registers its method (`recsys.methods` imports them lazily).
"""

from recsys.adapters.side import SANB, IISANVersa, InterSideNetwork, IntraSideNetwork

__all__ = ["SANB", "IISANVersa", "InterSideNetwork", "IntraSideNetwork"]

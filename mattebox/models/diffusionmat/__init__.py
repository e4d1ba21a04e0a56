"""DiffusionMat: alpha prior + correction module + alpha reliability propagation."""
from .diffusionmat import (DiffusionMat, alpha_reliability_propagation, known_masks,
                           unknown_region)
from .prior import AlphaDDPM, load_prior_weights, prior_state_dict_from

__all__ = ['DiffusionMat', 'AlphaDDPM', 'alpha_reliability_propagation', 'known_masks',
           'unknown_region', 'load_prior_weights',
           'prior_state_dict_from']

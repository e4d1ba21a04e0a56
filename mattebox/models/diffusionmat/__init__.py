"""DiffusionMat: alpha prior + correction module + alpha reliability propagation."""
from .diffusionmat import (DiffusionMat, alpha_reliability_propagation, known_masks,
                           reflect_pad_top_left, unknown_region)
from .prior import AlphaDDPM, load_prior_weights, prior_state_dict_from

__all__ = ['DiffusionMat', 'AlphaDDPM', 'alpha_reliability_propagation', 'known_masks',
           'unknown_region', 'reflect_pad_top_left', 'load_prior_weights',
           'prior_state_dict_from']

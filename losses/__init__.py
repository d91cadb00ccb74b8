"""Per-jet loss terms, each returning shape (batch,), shared by training and scoring."""

from losses.dirichlet import dirichlet_laplace_kl, dirichlet_laplace_prior
from losses.gaussian import standard_normal_kl
from losses.mixture import ashman_distance, ashman_repulsion, mixture_kl_single_sample, mixture_prior, responsibilities
from losses.reconstruction import categorical_cross_entropy, mean_squared_error, squared_error
from losses.sequence import diagonal_gaussian_kl, masked_step_mean, vrnn_jet_terms

__all__ = [
    "dirichlet_laplace_prior",
    "dirichlet_laplace_kl",
    "categorical_cross_entropy",
    "mean_squared_error",
    "squared_error",
    "standard_normal_kl",
    "ashman_distance",
    "ashman_repulsion",
    "mixture_kl_single_sample",
    "mixture_prior",
    "responsibilities",
    "diagonal_gaussian_kl",
    "masked_step_mean",
    "vrnn_jet_terms",
]

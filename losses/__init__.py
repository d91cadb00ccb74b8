"""Per-jet loss terms, each returning shape (batch,), shared by training and scoring."""

from losses.dirichlet import dirichlet_laplace_prior, dirichlet_laplace_kl
from losses.reconstruction import categorical_cross_entropy, mean_squared_error

__all__ = ["dirichlet_laplace_prior", "dirichlet_laplace_kl", "categorical_cross_entropy", "mean_squared_error"]

"""``torch.distributions.relaxed_categorical``'s import path: ``ExpRelaxedCategorical`` and
``RelaxedOneHotCategorical`` (defined in ``relaxed``)."""

from .relaxed import ExpRelaxedCategorical, RelaxedOneHotCategorical

__all__ = ["ExpRelaxedCategorical", "RelaxedOneHotCategorical"]

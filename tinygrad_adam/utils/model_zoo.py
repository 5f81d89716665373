"""``torch.utils.model_zoo``: ``load_url`` is the older name of ``hub.load_state_dict_from_url`` (older model
definitions load their pretrained weights with ``model_zoo.load_url(model_urls[arch])``)."""

from ..hub import load_state_dict_from_url as load_url

__all__ = ["load_url"]

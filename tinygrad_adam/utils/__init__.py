"""torch's import paths for utilities: ``tinygrad_adam.utils.data`` is ``torch.utils.data`` (see ``data``) and
``tinygrad_adam.utils.checkpoint`` is ``torch.utils.checkpoint`` (which here saves no memory; see ``checkpoint``);
``utils.dlpack`` is ``torch.utils.dlpack``; ``utils.benchmark`` is ``torch.utils.benchmark`` (Timer, Measurement,
Compare); ``utils.model_zoo.load_url`` is ``hub.load_state_dict_from_url``; ``utils._pytree`` (``tree_flatten``,
``tree_map``, ...) takes nested containers apart as torch's."""

from . import benchmark, checkpoint, data, dlpack, hooks, model_zoo

__all__ = ["benchmark", "checkpoint", "data", "dlpack", "hooks", "model_zoo"]

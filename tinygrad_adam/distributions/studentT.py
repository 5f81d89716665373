"""``torch.distributions.studentT``'s import path: ``StudentT`` (defined in ``student_t``)."""  # noqa: N999 - torch's module name

from .student_t import StudentT

__all__ = ["StudentT"]

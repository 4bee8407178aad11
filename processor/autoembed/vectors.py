"""The one type every floor passes vectors as: a float32 matrix, row i for input i."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors: TypeAlias = npt.NDArray[np.float32]
else:
    # numpy loads with the first vector, not with the package: a run with
    # nothing due never needs it.
    Vectors = Any

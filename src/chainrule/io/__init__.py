"""Model files and training checkpoints that cannot run code.

Three modules, one job each:

- :mod:`chainrule.io.container`: the safetensors bytes, written atomically and read
  through one handle, with every size budget checked before allocation;
- :mod:`chainrule.io.architecture`: the closed vocabulary a file may describe (Linear,
  the op registry's activations with their attributes, Dropout) and how it is rebuilt;
- :mod:`chainrule.io.checkpoint`: a training run's state (optimizer, schedule, history,
  random generators), flattened into JSON and tensors and validated when read.

Nothing in a file is unpickled, evaluated or imported by name, so a file can hold
numbers but never code.
"""

from chainrule.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from chainrule.io.container import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_DEPTH,
    MAX_DIMS,
    MAX_HEADER_BYTES,
    MAX_STRING,
    MAX_TENSORS,
    load,
    read_metadata,
    save,
)

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "read_metadata", "Checkpoint",
           "FORMAT_NAME", "FORMAT_VERSION", "MAX_HEADER_BYTES", "MAX_TENSORS", "MAX_DIMS", "MAX_DEPTH",
           "MAX_STRING"]

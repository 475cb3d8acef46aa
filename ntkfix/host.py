"""What this machine and environment offer (public module ``ntkfix.host``).

- ``available_memory()``: bytes a new allocation may take (MemAvailable), or None;
- ``format_bytes(b)``: "1.5 GiB";
- ``matmul_throughput()``: this machine's measured float32 matmul FLOP/s (time estimates);
- ``neural_tangents_available()``: whether neural-tangents imports here;
- ``neural_tangents(feature)``: the ``neural_tangents`` module, or
  ``ntkfix.errors.NeuralTangentsUnavailable`` naming the feature that needs it (and why
  it cannot import here); ``neural_tangents_unavailable_reason()``;
- ``Progress``: the one progress display of ntkfix (a bar on a terminal, a log line
  every few seconds elsewhere).
"""

from ntkfix._core.host import available_memory as available_memory
from ntkfix._core.host import format_bytes as format_bytes
from ntkfix._core.host import matmul_throughput as matmul_throughput
from ntkfix._core.nt import available as neural_tangents_available
from ntkfix._core.nt import import_nt as neural_tangents
from ntkfix._core.nt import unavailable_reason as neural_tangents_unavailable_reason
from ntkfix._core.progress import Progress as Progress

__all__ = [
    "Progress",
    "available_memory",
    "format_bytes",
    "matmul_throughput",
    "neural_tangents",
    "neural_tangents_available",
    "neural_tangents_unavailable_reason",
]

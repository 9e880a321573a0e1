"""Pixels to model input on the cell's device: the one place uint8 becomes float, [0, 1] and normalised.

The crop datasets (``bench.images.CropDataset``, MP-IQE's ``CropSamples``, the retrained baselines'
``PatchDataset``) hand out uint8 [.., 3, s, s] tensors: a quarter of float32's bytes through the worker
queues, the pinned buffers and the host-to-device copy. ``make_loader`` converts each batch's image fields
(``IMAGE_KEYS``) with :func:`to_unit` on the loader's device (CUDA: on the copy's side stream, after the
copy), so every method receives what it received before: floats in [0, 1]. Code that indexes a dataset
itself calls :func:`to_unit`; a network that normalises its input calls :func:`normalise`.

Rounding: ``to_unit`` computes ``float(x) * float(1/255)`` in the target dtype, exactly what the crop
path computed in numpy before (bit-equal in float32); ``exact=True`` divides by 255 instead, as the
retrained baselines' whole-image path did (datasets say so with ``unit_exact = True``). The dtype is
``torch.get_default_dtype()`` at call time, so a cell that sets float64 gets float64 input.
torch is imported inside the functions (``bench`` stays importable without it).
"""

from __future__ import annotations

IMAGE_KEYS = ("crops", "image", "x")


def to_unit(x, device=None, dtype=None, exact: bool = False):
    """uint8 pixels -> ``dtype`` (default: torch's default dtype) in [0, 1] on ``device`` (default: where
    ``x`` is). Floating tensors are taken as already in [0, 1] and only moved."""
    import torch

    if device is not None:
        x = x.to(device, non_blocking=True)
    if x.is_floating_point():
        return x
    if x.dtype != torch.uint8:
        raise TypeError(f"to_unit: expected uint8 pixels or floats in [0, 1], got {x.dtype}")
    dtype = dtype or torch.get_default_dtype()
    if x.device.type == "cpu" and dtype in (torch.float32, torch.float64):
        return _unit_numpy(x, dtype, exact)
    return _unit_torch(x, dtype, exact)


def _unit_torch(x, dtype, exact: bool):
    """The conversion where ``x`` is (CUDA: on the current stream)."""
    import torch

    out = x.to(dtype)
    if exact:
        return out.div_(255)
    # the reciprocal rounded to the dtype, as numpy's float32(1 / 255) was: the same products
    return out.mul_(torch.tensor(1.0 / 255.0, dtype=dtype, device=out.device))


def _unit_numpy(x, dtype, exact: bool):
    """The CPU conversion in numpy: one pass, one thread (torch's intra-op threads in the loading process
    cost far more than the arithmetic on a busy machine), the same products and quotients as torch's."""
    import numpy as np
    import torch

    kind = np.float32 if dtype == torch.float32 else np.float64
    out = np.empty(tuple(x.shape), dtype=kind)
    if exact:
        np.divide(x.numpy(), kind(255), out=out)
    else:
        np.multiply(x.numpy(), kind(1.0 / 255.0), out=out)
    return torch.from_numpy(out)


def normalise(x, mean, std):
    """(x - mean) / std with mean and std cast to ``x``'s dtype and device (the CLIP / ImageNet input)."""
    return (x - mean.to(x)) / std.to(x)


def unit_batch(batch: dict, device=None, exact: bool = False) -> dict:
    """A collated batch with its image fields through :func:`to_unit` (other fields unchanged)."""
    import torch

    return {
        k: (to_unit(v, device, exact=exact) if k in IMAGE_KEYS and torch.is_tensor(v) else v) for k, v in batch.items()
    }


class UnitLoader:
    """Wraps a CPU DataLoader: each dict batch's image fields converted by :func:`unit_batch` in the
    loading process (workers ship uint8). The CUDA counterpart is ``bench.images.DeviceLoader``."""

    def __init__(self, loader, device: str = "cpu", exact: bool = False):
        self.loader, self.device, self.exact = loader, device, exact

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name):  # dataset, batch_size, ... of the wrapped loader
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self):
        for batch in self.loader:
            yield unit_batch(batch, self.device, self.exact) if isinstance(batch, dict) else batch

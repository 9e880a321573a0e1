"""Pixels to model input on the cell's device: the one place uint8 becomes float, [0, 1] and normalised.

The crop datasets (``bench.data.images.CropDataset``, MP-IQE's ``CropSamples``, the retrained baselines'
``PatchDataset``) hand out uint8 [.., 3, s, s] tensors: a quarter of float32's bytes through the worker
queues, the pinned buffers and the host-to-device copy. ``make_loader`` converts each batch's image fields
(``IMAGE_KEYS``) with :func:`to_unit` on the loader's device (CUDA: on the copy's side stream, after the
copy), so every method receives what it received before: floats in [0, 1]. Code that indexes a dataset
itself calls :func:`to_unit`; a network that normalises its input calls :func:`normalise`.

Rounding: ``to_unit`` computes ``float32(x) * float32(1/255)``, exactly what the crop path computed in numpy
before (bit-equal); ``exact=True`` divides by 255 instead, as the retrained baselines' whole-image path did
(datasets say so with ``unit_exact = True``). The result's dtype is ``torch.get_default_dtype()`` at call time:
a ``--precision float64`` cell gets float64 tensors holding those float32-rounded values -- what it got before,
when float32 crops were cast to float64, so its numbers (and the float64 CI goldens) are unchanged. (Scaling in
float64 itself moves inputs by ~3e-8 relative and, through training, changed the paq2piq CI cell's SRCC by ~2e-3:
a change of the float64 mode's numbers, not made here.)
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
    out = _unit_numpy(x, exact) if x.device.type == "cpu" else _unit_torch(x, exact)
    return out if dtype == torch.float32 else out.to(dtype)


def _unit_torch(x, exact: bool):
    """The float32 conversion where ``x`` is (CUDA: on the current stream)."""
    import torch

    out = x.to(torch.float32)
    if exact:
        return out.div_(255)
    # the reciprocal rounded to float32, as numpy's float32(1 / 255) was: the same products
    return out.mul_(torch.tensor(1.0 / 255.0, dtype=torch.float32, device=out.device))


def _unit_numpy(x, exact: bool):
    """The float32 conversion on the CPU in numpy: one pass, one thread (torch's intra-op threads in the loading
    process cost far more than the arithmetic on a busy machine), the same products and quotients as torch's."""
    import numpy as np
    import torch

    out = np.empty(tuple(x.shape), dtype=np.float32)
    if exact:
        np.divide(x.numpy(), np.float32(255), out=out)
    else:
        np.multiply(x.numpy(), np.float32(1.0 / 255.0), out=out)
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
    loading process (workers ship uint8). The CUDA counterpart is ``bench.data.images.DeviceLoader``."""

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

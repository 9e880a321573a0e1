"""Training samples for the two readings of MP-IQE's batch (see ``methods/mpiqe/train.py``).

``image`` reading: ``bench.data.images.CropDataset`` itself (an item = one image with its k crops).
``crop`` reading: :class:`CropSamples`, an item = ONE crop, n_images x k items per epoch, as the
HyperIQA and DEIQT training sets are built (each image listed k times, one random crop per visit).
Crop j of image i in epoch e is exactly crop j of ``CropDataset[i]`` in epoch e (same seeded boxes),
so both readings train on the same crops and differ only in how they are batched and scored.
"""

from __future__ import annotations

import numpy as np

from bench.data.images import CropDataset, crop_boxes, ensure_min_size, open_rgb, scene_vector


class CropSamples(CropDataset):
    """One crop per item: item ``i * k + j`` is crop j of image i, as a uint8 [1, 3, s, s] ``crops`` tensor
    (the batch then has the image reading's layout with k = 1). Each item decodes its image, as
    HyperIQA's and DEIQT's loaders do; only the one crop is copied out."""

    def __init__(self, records, n_crops: int = 8, crop_size: int = 224, seed: int = 0):
        super().__init__(records, n_crops=n_crops, crop_size=crop_size, train=True, seed=seed)
        self.crops_per_image = n_crops

    def __len__(self) -> int:
        return len(self.records) * self.crops_per_image

    def __getitem__(self, item) -> dict:
        import torch

        epoch, index = self.split_index(item) if hasattr(self, "split_index") else (None, item)
        i, j = divmod(int(index), self.crops_per_image)
        rec = self.records[i]
        # the run's decoded-image cache when there is one (CropDataset.pixels), else a fresh decode
        img = ensure_min_size(self.pixels(i) if hasattr(self, "pixels") else open_rgb(rec.path), self.crop_size)
        h, w = (img.shape[0], img.shape[1]) if isinstance(img, np.ndarray) else (img.size[1], img.size[0])
        rng = self.rng_for(i) if epoch is None else self.rng_for(i, epoch)
        y, x = crop_boxes(h, w, self.crops_per_image, self.crop_size, rng)[j]
        s = self.crop_size
        crop = img[y : y + s, x : x + s] if isinstance(img, np.ndarray) else np.asarray(img.crop((x, y, x + s, y + s)))
        chw = crop.transpose(2, 0, 1)[None]  # uint8: make_loader converts on the device
        return {
            "crops": torch.from_numpy(np.ascontiguousarray(chw)),
            "score": float(rec.score),
            "index": i,
            "scene": torch.from_numpy(scene_vector(rec)),
            "distortion": int(rec.distortion_class) if rec.distortion_class is not None else -1,
        }

    __getitem__.epoch_in_index = True  # the loader may pass (epoch, item), as for CropDataset


def training_samples(records, batch_unit: str, n_crops: int, crop_size: int, seed: int):
    """The torch Dataset the training loop iterates for ``batch_unit`` ('crop' or 'image')."""
    if batch_unit == "crop":
        return CropSamples(records, n_crops=n_crops, crop_size=crop_size, seed=seed)
    if batch_unit == "image":
        return CropDataset(records, n_crops=n_crops, crop_size=crop_size, train=True, seed=seed)
    raise ValueError(f"batch_unit={batch_unit!r}: choose crop or image")

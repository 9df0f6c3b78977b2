"""Which items make micro-batch ``g``: an endless sequence, reshuffled every epoch from a seed.

One rule for SFT rows (``dataset.BatchStream``) and DPO pairs (``pairs.PairStream``): a run that resumes at
micro-batch ``g`` after a kill sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math


class EpochOrder:
    def __init__(self, n_items: int, micro_batch_size: int, seed: int):
        self.micro_batch_size = micro_batch_size
        self.per_epoch = math.ceil(n_items / micro_batch_size)
        self.seed = seed
        self._n_items = n_items
        self._orders: dict[int, list[int]] = {}

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            import numpy as np

            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self._n_items).tolist()}
        return self._orders[epoch]

    def epoch_of(self, g: int) -> float:
        return g / self.per_epoch

    def _indices(self, g: int) -> list[int]:
        epoch, i = divmod(g, self.per_epoch)
        return self._order(epoch)[i * self.micro_batch_size:(i + 1) * self.micro_batch_size]

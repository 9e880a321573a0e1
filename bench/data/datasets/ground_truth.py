"""Which ground truth each layout reads, where datasets publish more than one.

LIVE (release 2) has two: the original DMOS (``dmos.mat`` 'dmos', which pyiqa's meta_info_LIVEIQADataset.csv
'mos' column holds) and the realigned DMOS (``dmos_realigned.mat`` 'dmos_new', what HyperIQA's and DBCNN's
LIVEFolder and TReS's folders.py read, and what LIQE's LIVE lists hold as 111.77 - dmos_new). The two agree at
SRCC ~0.96 and on none of the 779 values, so they are two ground truths: named in ``DatasetInfo.ground_truth``,
part of the revision, never mixed in one report row. The release layout reads the realigned DMOS unless the
original is asked for (``--ground-truth live=original``); the pyiqa layout has the original only.

KonIQ-10k's 1-100 'MOS_zscore' (pyiqa's 'mos') is not its ground truth here (the authors' MOS on 1-5, with its
SD, is) but a label column a method's recipe may train on (HyperIQA's and TReS's folders.py).
"""

from __future__ import annotations

LIVE_ORIGINAL = "LIVE's original DMOS (dmos.mat 'dmos'), 0-100, lower is better"
LIVE_REALIGNED = "LIVE's realigned DMOS (dmos_realigned.mat 'dmos_new'), lower is better"
LIVE_ORIGINAL_NOTE = (
    "the original DMOS, not the realigned DMOS (dmos_realigned.mat 'dmos_new') that the paper's baselines "
    "trained on (HyperIQA's and DBCNN's LIVEFolder, LIQE's lists); for that one use the release layout "
    "(docs/DATASETS.md, 'LIVE's two ground truths')"
)
# dmos_new runs from -2.64 to 111.77 in the released file (not 0-100): the declared scale holds it
LIVE_REALIGNED_SCALE = (-3.0, 112.0)
KONIQ_ZSCORE = "MOS_zscore"  # KonIQ-10k's 1-100 score: pyiqa's 'mos' column, the release's 'MOS_zscore'

# dataset -> the ground truths a user may ask for (--ground-truth NAME=CHOICE), the first is the default
CHOICES = {"live": ("realigned", "original")}

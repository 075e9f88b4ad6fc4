"""The control-group rule shared by the Campaigns page and the scoring service."""
import hashlib

import numpy as np
import pytest

from pipeline.campaign import control_mask, in_control_group
from pipeline.errors import DataError


def test_rule_by_hand():
    # the point of ("spring", "12345") is the first 8 bytes of sha256("spring\x1f12345") / 2**64
    point = int.from_bytes(hashlib.sha256(b"spring\x1f12345").digest()[:8], "big") / 2**64
    assert in_control_group("12345", "spring", point + 1e-9) is True
    assert in_control_group("12345", "spring", max(point - 1e-9, 0.0)) is False


def test_deterministic_share_and_per_campaign():
    ids = [str(i) for i in range(20_000)]
    a = control_mask(ids, "spring", 0.1)
    assert np.array_equal(a, control_mask(ids, "spring", 0.1))
    assert abs(a.mean() - 0.1) < 0.01
    b = control_mask(ids, "autumn", 0.1)
    assert 0 < (a & b).sum() < a.sum()            # another campaign draws another group
    assert not control_mask(ids, "spring", 0.0).any() and control_mask(ids, "spring", 1.0).all()
    assert (control_mask(ids, "spring", 0.05) <= a).all()   # a smaller share is a subset


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_bad_share(share):
    with pytest.raises(DataError, match="between 0 and 1"):
        in_control_group("1", "c", share)

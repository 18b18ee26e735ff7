"""What the allocator tests of every compat mode share: the serial option and ``refused``."""

from __future__ import annotations

import pytest

from ipamx_spy.ipam import IpamError

SERIAL = {"com.docker.network.ipam.serial": "true"}


def refused(call: object, *args: object, **kwargs: object) -> str:
    """The message of the ``IpamError`` that ``call(*args, **kwargs)`` raises."""
    with pytest.raises(IpamError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value.message

"""Human support: tickets relayed between a merchant's chat and a topic of the support group.

The desk is one object per event, assembled from its jobs: the lifecycle (`lifecycle.py`), the merchant's
side (`merchant_side.py`), the staff's side (`staff.py`) and the support group's topics (`topics.py`), on
common ground (`base.py`).
"""

from __future__ import annotations

from assistant.support.base import LIST_LIMIT, STAFF_ROLES, SupportConfig, text_of, ticket_choice
from assistant.support.merchant_side import MerchantSide
from assistant.support.staff import StaffSide
from assistant.support.topics import Topics

__all__ = ["LIST_LIMIT", "STAFF_ROLES", "SupportConfig", "SupportDesk", "text_of", "ticket_choice"]


class SupportDesk(MerchantSide, StaffSide, Topics):
    """Everything about tickets for one event, inside that event's transaction."""

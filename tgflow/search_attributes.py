"""Custom search attributes that let a person find tgflow's workflows in the Web UI.

They are not encrypted: ids, numbers and statuses only, never personal data.
"""

from temporalio.common import SearchAttributeKey

SHOP_ID = SearchAttributeKey.for_keyword("TgShopId")
ORDER_NUMBER = SearchAttributeKey.for_keyword("TgOrderNumber")
SYNC_STATUS = SearchAttributeKey.for_keyword("TgSyncStatus")
SYNC_KIND = SearchAttributeKey.for_keyword("TgSyncKind")

ALL = [SHOP_ID, ORDER_NUMBER, SYNC_STATUS, SYNC_KIND]

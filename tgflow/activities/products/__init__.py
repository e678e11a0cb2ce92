"""Product import activities: TotalGest articles and stock -> Framework360 products.

Modules: ``activity`` (the three activities and the phase order), one module per phase (``reserved``,
``stock``, ``articles``, ``statuses``, ``retry``, ``flush``, ``draft``), ``write`` (create / update / skip in
batch calls), ``statuses`` (the status-column PUTs and their confirmation), ``read_ahead`` and ``common``.

One long, heartbeating activity (``import_products_pass``) does a whole pass and
streams: it holds a bounded number of TotalGest pages (≤ 500 articles / ≤ 1000 stock
rows each: the one being written, the next one already requested, and at most
``PAGES_IN_FLIGHT`` written ones whose links and status PUTs are still going on) and
their links in memory. After each page it heartbeats its resume point; a retry (after
a 5xx, timeout, 429, worker crash) continues from ``activity.info().heartbeat_details``
instead of starting over. Every step is idempotent: re-processing a page finds the
links already written and writes nothing again.

Phases of a pass, in order:

1. ``reserved`` - units sold in *completed* Framework360 orders that TotalGest does
   not know yet (integration status not ``linked`` in Framework360 and not ``linked``
   in the status store). Choice: computed here from Framework360 (completed orders
   updated in the last ``products.reserve_lookback_days``, at most
   ``products.reserve_max_orders``, each fetched once for its line items) because
   ``OrderLink`` rows carry no line quantities. Kept in memory (bounded by the
   export backlog) and stored per link as ``reserved_quantity``.
2. ``stock`` - ``/stock`` rows changed since the stock cursor: warehouse levels are
   stored per link; a link whose sellable stock changed becomes ``stock_dirty``.
3. ``articles`` - ``/articles`` changed since the articles cursor (``--full``: all):
   map, compare fingerprints, create / update only changed fields / skip, in
   ``/products/batch`` calls of ≤ 100 creates + ≤ 100 updates.
4. ``statuses`` - status PUTs an earlier pass stored as ``pending`` but never
   confirmed (it failed for good after storing its links): sent again.
5. ``retry`` - products Framework360 refused in an earlier run, from the mapped
   content kept on their link.
6. ``flush`` - stock-only updates of linked products still ``stock_dirty``.
7. ``draft`` (``--full`` only) - published products whose article the walk did not
   see are set to ``draft`` (never deleted).

The integration status (``integrations/totalgest``, the product list's status
column) is written only for products whose status changes, so an unchanged
catalog costs zero writes. The contract has one PUT per product for it, so a full
import of a new catalog sends one per article. In the ``articles`` phase a written
page's store writes and status PUTs run in the background while the next pages are
read, mapped and written (at most ``PAGES_IN_FLIGHT`` pages; a page sharing a key
with one of them waits for it), and the heartbeat moves past a page only once its
batch writes, store writes and status PUTs are all done, in page order. A link whose
status PUT is still to be confirmed is stored as ``pending`` (everything else already
final) and set to its final status once the PUT went through: a retried attempt, or
the next run, finds it ``pending`` and sends the PUT again, so a killed worker or a
failed PUT loses none.
"""

from tgflow.activities.products.activity import ProductActivities

__all__ = ["ProductActivities"]

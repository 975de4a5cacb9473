"""Dynamic batching: concurrent requests for one version merged into one model call.

Requests queue up while the model is busy or for at most ``batch_timeout_micros`` after
the first one arrives; the batch is then run as one call of at most ``max_batch_size``
rows and each request gets its own rows back. One call runs at a time per version (TF
Serving's ``num_batch_threads`` of 1): on a small machine a second concurrent call only
competes for the same cores, while waiting lets the next batch grow.

A lone request does not wait: when it finds the model idle and nothing queued, and the
previous batch held a single request too (no other client is sending), it is run at once
(after requests already runnable in the event loop have had their turn to join). Waiting
``batch_timeout_micros`` for company that is not coming only added that wait to every
request at concurrency 1 (about 2 ms of a 4 ms answer with the default; measured by
benchmarks/serving/run.py). As soon as a batch merges several requests, arrivals at an
idle model wait for the timeout again, as TF Serving's do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

Columns = dict[str, np.ndarray]


class Batcher:
    """Runs ``call`` (columns -> outputs, first dimension = rows) on merged requests."""

    def __init__(
        self, call: Callable[[Columns], Columns], max_batch_size: int, batch_timeout_micros: int
    ):
        self.call, self.max_batch_size = call, max_batch_size
        self.timeout = batch_timeout_micros / 1e6
        self._pending: list[tuple[Columns, int, asyncio.Future]] = []
        self._rows = 0
        self._timer: asyncio.Handle | None = None  # the pending flush, timed or not
        self._busy = False
        self._last_requests = 1  # requests in the previous batch (none yet: as if alone)
        self._tasks: set[asyncio.Task] = set()  # the loop keeps only weak references
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlrail-batch")

    async def submit(self, columns: Columns, rows: int) -> Columns:
        """The outputs for this request's ``rows``, computed in some batch."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((columns, rows, future))
        self._rows += rows
        if not self._busy:
            if self._rows >= self.max_batch_size or self.timeout == 0:
                self._flush()
            elif self._timer is None and self._last_requests == 1:
                # Alone, as the previous request was: nobody else is sending. call_soon,
                # not now, so requests already runnable in this loop still join it.
                self._timer = loop.call_soon(self._flush)
            elif self._timer is None:
                self._timer = loop.call_later(self.timeout, self._flush)
        return await future

    def _take(self) -> list[tuple[Columns, int, asyncio.Future]]:
        """The oldest requests that fit in one batch; always at least one (a request over
        ``max_batch_size`` runs alone rather than being refused)."""
        taken, rows = [], 0
        while self._pending and (not taken or rows + self._pending[0][1] <= self.max_batch_size):
            item = self._pending.pop(0)
            taken.append(item)
            rows += item[1]
        self._rows -= rows
        return taken

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._busy or not self._pending:
            return
        self._busy = True
        batch = self._take()
        self._last_requests = len(batch)
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Columns, int, asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            merged = {n: np.concatenate([c[n] for c, _, _ in batch]) for n in batch[0][0]}
            outputs = await loop.run_in_executor(self._executor, self.call, merged)
            start = 0
            for _, rows, future in batch:
                if not future.done():
                    future.set_result({n: v[start : start + rows] for n, v in outputs.items()})
                start += rows
        except Exception as err:
            if len(batch) == 1:
                if not batch[0][2].done():
                    batch[0][2].set_exception(err)
            else:
                await self._one_by_one(batch)
        finally:
            self._busy = False
            # Whatever queued during the call has waited long enough already.
            if self._pending:
                self._flush()

    async def _one_by_one(self, batch: list[tuple[Columns, int, asyncio.Future]]) -> None:
        """After a merged call failed: each request alone, so a request the model cannot
        take fails by itself instead of failing every request batched with it."""
        loop = asyncio.get_running_loop()
        for columns, _, future in batch:
            try:
                outputs = await loop.run_in_executor(self._executor, self.call, columns)
            except Exception as err:
                if not future.done():
                    future.set_exception(err)
            else:
                if not future.done():
                    future.set_result(outputs)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

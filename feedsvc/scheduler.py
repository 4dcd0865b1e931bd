"""Background work: one APScheduler job per enabled source, plus housekeeping.

Jobs: ``source:{id}`` at the source's ``every`` (never two runs of one source at once:
``max_instances=1``, ``coalesce``), ``heartbeat`` (kept in the store for /healthz),
``config`` (hot reload: jobs follow the new config), ``retention`` (daily purge).
:meth:`Scheduler.stop` waits for running jobs: SIGTERM stops cleanly between jobs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feedsvc import clock
from feedsvc.config import Config
from feedsvc.dates import local_day
from feedsvc.service import Service

log = logging.getLogger("feedsvc.scheduler")
HEARTBEAT_EVERY = 30
LEASE = "scheduler_lease"
LEASE_TTL = 90.0  # a standby takes over this long after the holder's last renewal
ADMIN_POLL = 3  # seconds between looks at the admin refresh queue


def _wall() -> datetime:
    """Real time for APScheduler triggers (the clock seam may be pinned in tests)."""
    return datetime.now(UTC)


class Scheduler:
    def __init__(self, service: Service, workers: int = 4) -> None:
        self.service = service
        self.sched = BackgroundScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        self._lock = threading.Lock()
        self._reclassifying = threading.Lock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leader = False
        service.listeners.append(self._on_config)

    def start(self) -> None:
        self.beat()
        self.sched.add_job(self.beat, IntervalTrigger(seconds=HEARTBEAT_EVERY),
                           id="heartbeat")
        self.sched.add_job(self.service.reload, IntervalTrigger(seconds=15), id="config")
        self.sched.add_job(self.admin_requests, IntervalTrigger(seconds=ADMIN_POLL),
                           id="admin")
        self.sched.add_job(self.purge, IntervalTrigger(hours=24),
                           next_run_time=_wall() + timedelta(minutes=1), id="retention")
        self.sync_jobs(self.service.config)
        self.sched.start()
        log.info("scheduler started sources=%d",
                 sum(1 for s in self.service.config.sources if s.enabled))

    def stop(self) -> None:
        """Stop taking jobs and wait for the running ones to finish."""
        if self.sched.running:
            self.sched.shutdown(wait=True)
        if self.leader:
            self.service.store.release_lease(LEASE, self.owner)
            self.leader = False
        log.info("scheduler stopped")

    def beat(self) -> None:
        """Renew (or take over) the lease; the active scheduler writes the heartbeat."""
        was = self.leader
        self.leader = self.service.store.acquire_lease(LEASE, self.owner, LEASE_TTL)
        if self.leader != was:
            log.info("scheduler %s owner=%s", "active" if self.leader else "standby",
                     self.owner)
        if self.leader:
            self.service.store.set_kv("scheduler_heartbeat", clock.now().isoformat())

    def sync_jobs(self, config: Config) -> None:
        """Make the source jobs match ``config``: add, remove, reschedule."""
        with self._lock:
            wanted = {f"source:{s.id}": s for s in config.sources if s.enabled}
            for job in self.sched.get_jobs():
                if job.id.startswith("source:") and job.id not in wanted:
                    job.remove()
                    log.info("source job removed id=%s", job.id)
            for job_id, src in wanted.items():
                job = self.sched.get_job(job_id)
                trigger = IntervalTrigger(seconds=src.every)
                if job is None:
                    self.sched.add_job(self.run_source, trigger, args=[src.id], id=job_id,
                                       next_run_time=_wall())
                elif job.trigger.interval.total_seconds() != src.every:
                    job.reschedule(trigger)
                    log.info("source job rescheduled id=%s every=%ss", job_id, src.every)

    def run_source(self, source_id: str) -> None:
        if not self.leader:
            return  # a standby: another scheduler holds the lease
        self.service.refresh_source(source_id, force=False)

    def admin_requests(self) -> None:
        """Run the refreshes the web side queued (POST /admin/refresh)."""
        if not self.leader:
            return
        for source_id in self.service.store.claim_refresh_requests():
            ids = ([source_id] if source_id
                   else [s.id for s in self.service.config.sources if s.enabled])
            for sid in ids:
                log.info("admin refresh source=%s", sid)
                self.service.refresh_source(sid, force=True)

    def purge(self) -> None:
        """Daily housekeeping: retention (whole days), then the store's statistics and
        space (:meth:`~feedsvc.store.Store.reclaim`)."""
        days = self.service.config.service.retention_days
        if not self.leader:
            return
        if days <= 0:
            self.service.store.reclaim()
            return
        cutoff = local_day(clock.now() - timedelta(days=days), self.service.config.service.tz)
        n = self.service.store.purge_before(cutoff)
        log.info("retention purged=%d before=%s", n, cutoff)

    def _on_config(self, old: Config, new: Config) -> None:
        if old.topics != new.topics and self.leader:
            threading.Thread(target=self.reclassify, name="reclassify", daemon=True).start()
        self.sync_jobs(new)

    def reclassify(self) -> int:
        """Re-run the topic rules in force over the whole archive (one run at a time:
        a run started while another is going waits for it, then applies the newest
        rules). Returns how many articles changed topics."""
        with self._reclassifying:
            moved = self.service.store.reclassify(
                self.service.refresher.classifier.classify,
                progress=lambda d, t: log.info("reclassify progress=%d/%d", d, t))
        log.info("reclassify done moved=%d", moved)
        return moved

//! This process as one node of a cluster sharing the database (plan §3.4): its id, which owns
//! its leases; its heartbeat, which keeps them; the reaper, which every node runs, freeing the
//! leases of nodes that stopped beating (and leases past their time); and the `LISTEN`
//! connection that wakes the dispatcher when any node has new due work.
//!
//! Leases and heartbeats use the database's clock (`db_now_ms()`), so skew between the
//! nodes' clocks cannot steal a live lease.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio::sync::Notify;

use super::PgStore;
use crate::store::types::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

/// How often a node beats and reaps.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node silent for this long is dead: its row goes, and its leases with it.
pub const DEAD_AFTER_MS: i64 = 15_000;
/// The channel on which nodes hear that deliveries may be due.
pub const DUE_CHANNEL: &str = "hookline_due";

/// This node.
pub(super) struct Node {
    id: RwLock<Arc<str>>,
    /// When (this process's clock, ms) a heartbeat last found the node's row; 0 before the
    /// first. `/readyz` reads it.
    beat_at: AtomicI64,
    started: AtomicBool,
    stopped: AtomicBool,
    stop: Notify,
}

impl Node {
    pub(super) fn new() -> Node {
        Node {
            id: RwLock::new(new_id()),
            beat_at: AtomicI64::new(0),
            started: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
        }
    }

    /// The id the node's leases carry now.
    pub(super) fn id(&self) -> Arc<str> {
        self.id.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn beat_at(&self) -> i64 {
        self.beat_at.load(Ordering::Relaxed)
    }
}

fn new_id() -> Arc<str> {
    let host = hostname();
    format!(
        "{}-{}",
        host.chars().take(40).collect::<String>(),
        crate::clock::random_token(10)
    )
    .into()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// Frees the leases of dead nodes (and any past its time), and forgets the dead nodes. Every
/// node runs it; it is idempotent. Returns how many leases it freed.
pub(super) async fn reap<C: GenericClient>(c: &C) -> Result<u64> {
    let freed = c
        .execute(
            "WITH dead AS (DELETE FROM hookline_nodes WHERE heartbeat_at < db_now_ms() - $1 RETURNING id)
             UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
             WHERE lease_until IS NOT NULL
               AND (lease_owner IN (SELECT id FROM dead)
                    OR lease_until < db_now_ms()
                    OR NOT EXISTS (SELECT 1 FROM hookline_nodes n WHERE n.id = deliveries.lease_owner))",
            &[&DEAD_AFTER_MS],
        )
        .await?;
    if freed > 0 {
        c.execute("SELECT pg_notify($1, '')", &[&DUE_CHANNEL])
            .await?;
    }
    Ok(freed)
}

impl PgStore {
    /// Registers this node, frees what dead nodes held, and starts the heartbeat (with the
    /// reaper) and the `LISTEN` connection that calls `wake` when work may be due. Returns how
    /// many leases the first reap freed.
    pub async fn queue_start(&self, wake: Arc<Notify>) -> Result<usize> {
        let c = self.conn().await?;
        register(&c, &self.node).await?;
        let freed = reap(&c).await?;
        if !self.node.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(heartbeat(self.clone()));
            tokio::spawn(listen(self.clone(), wake));
        }
        Ok(freed as usize)
    }

    /// Stops beating, gives back this node's leases (their deliveries are attempted again
    /// by whichever node claims them next) and removes the node.
    pub async fn queue_stop(&self) -> Result<()> {
        if self.node.stopped.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.node.stop.notify_waiters();
        let c = self.conn().await?;
        let me = self.node.id();
        c.execute(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
             WHERE lease_until IS NOT NULL AND lease_owner = $1",
            &[&&*me],
        )
        .await?;
        c.execute("DELETE FROM hookline_nodes WHERE id = $1", &[&&*me])
            .await?;
        c.execute("SELECT pg_notify($1, '')", &[&DUE_CHANNEL])
            .await?;
        Ok(())
    }

    /// Seeks the session advisory lock `key` (role `role`, for logs) on a connection of its
    /// own until this node stops: every 5 s while another node holds it; once held, checks the
    /// connection every 5 s and starts over when it fails (the server has freed the lock by
    /// then). The receiver says whether this node holds it.
    pub fn lead(&self, key: i64, role: &'static str) -> tokio::sync::watch::Receiver<bool> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let (target, node) = (self.target.clone(), self.node.clone());
        tokio::spawn(async move {
            while !node.stopped.load(Ordering::SeqCst) {
                let held = async {
                    let client = target.connect().await?;
                    loop {
                        let got: bool = client
                            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                            .await?
                            .get(0);
                        if got {
                            break;
                        }
                        tokio::select! {
                            _ = node.stop.notified() => return Ok(None),
                            _ = tokio::time::sleep(HEARTBEAT) => {}
                        }
                        if node.stopped.load(Ordering::SeqCst) {
                            return Ok(None);
                        }
                    }
                    tracing::info!(role, "this node now leads");
                    let _ = tx.send(true);
                    loop {
                        tokio::select! {
                            _ = node.stop.notified() => return Ok(Some(client)),
                            _ = tokio::time::sleep(HEARTBEAT) => {}
                        }
                        if node.stopped.load(Ordering::SeqCst) {
                            return Ok(Some(client));
                        }
                        client.query_one("SELECT 1", &[]).await?;
                    }
                }
                .await;
                let _ = tx.send(false);
                match held {
                    // Stopping: dropping the connection frees the lock for another node.
                    Ok(_) => return,
                    Err(e) => {
                        let e: super::PgError = e;
                        tracing::warn!(role, error = %e, "lost the connection that holds this role; trying again");
                    }
                }
                tokio::time::sleep(HEARTBEAT).await;
            }
        });
        rx
    }

    /// When this node's heartbeat last reached the database (its clock, ms; 0: never).
    pub fn heartbeat_at(&self) -> i64 {
        self.node.beat_at()
    }
}

async fn register<C: GenericClient>(c: &C, node: &Node) -> Result<()> {
    let me = node.id();
    c.execute(
        "INSERT INTO hookline_nodes (id, host, version, started_at, heartbeat_at)
         VALUES ($1, $2, $3, db_now_ms(), db_now_ms())
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = db_now_ms()",
        &[&&*me, &hostname(), &env!("CARGO_PKG_VERSION")],
    )
    .await?;
    node.beat_at
        .store(crate::clock::now_ms(), Ordering::Relaxed);
    Ok(())
}

/// Every [`HEARTBEAT`]: beat, then reap, then give new busy tables their first statistics
/// (`housekeeping::first_statistics`). A beat that finds no row means the others declared
/// this node dead and freed its leases: it carries on under a new id, and what it had claimed
/// under the old one is fenced off (its results are not recorded; the deliveries go again,
/// at least once).
async fn heartbeat(store: PgStore) {
    let node = store.node.clone();
    loop {
        tokio::select! {
            _ = node.stop.notified() => return,
            _ = tokio::time::sleep(HEARTBEAT) => {}
        }
        if node.stopped.load(Ordering::SeqCst) {
            return;
        }
        let beat = async {
            let mut c = store.conn().await?;
            let me = node.id();
            let found = c
                .execute(
                    "UPDATE hookline_nodes SET heartbeat_at = db_now_ms() WHERE id = $1",
                    &[&&*me],
                )
                .await?;
            if found == 0 {
                *node.id.write().unwrap_or_else(|e| e.into_inner()) = new_id();
                tracing::warn!(
                    old = %me,
                    new = %node.id(),
                    "this node missed its heartbeats and was declared dead; its leases went to others; it goes on under a new id"
                );
                register(&c, &node).await?;
            } else {
                node.beat_at
                    .store(crate::clock::now_ms(), Ordering::Relaxed);
            }
            let freed = reap(&c).await?;
            if freed > 0 {
                tracing::info!(freed, "freed the leases of nodes that stopped");
            }
            let analyzed = super::housekeeping::first_statistics(&mut c).await?;
            if !analyzed.is_empty() {
                tracing::info!(?analyzed, "gave new tables their first statistics");
            }
            Ok::<_, StoreError>(())
        };
        if let Err(e) = beat.await {
            tracing::warn!(error = %e, "heartbeat failed; retrying");
        }
    }
}

/// Holds a connection that `LISTEN`s on [`DUE_CHANNEL`] and wakes the dispatcher on each
/// notification; reconnects (and wakes, for what it may have missed) after a failure.
async fn listen(store: PgStore, wake: Arc<Notify>) {
    let node = store.node.clone();
    while !node.stopped.load(Ordering::SeqCst) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let client = async {
            let client = store.target.connect_listening(tx).await?;
            client
                .batch_execute(&format!("LISTEN {DUE_CHANNEL}"))
                .await?;
            Ok::<_, StoreError>(client)
        }
        .await;
        match client {
            Ok(client) => {
                wake.notify_one();
                loop {
                    tokio::select! {
                        _ = node.stop.notified() => return,
                        note = rx.recv() => match note {
                            Some(_) => wake.notify_one(),
                            None => break, // the connection ended
                        },
                    }
                }
                drop(client);
            }
            Err(e) => tracing::warn!(error = %e, "cannot LISTEN for due work; retrying"),
        }
        tokio::select! {
            _ = node.stop.notified() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

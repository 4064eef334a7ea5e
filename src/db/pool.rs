//! The writer thread (group commit) and the read pool.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{oneshot, Semaphore};

/// Errors of the storage layer. Cheap to clone (a failed group commit fails every job in
/// it with the same error), and each keeps its cause as its `source()`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    /// A stored value does not read back as what was written (a JSON column).
    #[error("the database holds a value that does not parse: {0}")]
    Corrupt(#[source] Arc<serde_json::Error>),
    /// A blocking database task did not finish (it panicked or was cancelled).
    #[error("a database task failed: {0}")]
    Task(#[source] Arc<tokio::task::JoinError>),
    /// The disk (or the filesystem quota) is full: nothing was written.
    #[error("the disk holding the database is full")]
    Full,
    /// The database is shutting down.
    #[error("the database is closed")]
    Closed,
    /// An error of another backend's driver (PostgreSQL).
    #[error("database error: {0}")]
    Backend(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// The database server cannot be reached (PostgreSQL): nothing was done.
    #[error("the database cannot be reached: {0}")]
    Unavailable(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => DbError::Full,
            _ => DbError::Sqlite(Arc::new(e)),
        }
    }
}

impl From<serde_json::Error> for DbError {
    fn from(e: serde_json::Error) -> Self {
        DbError::Corrupt(Arc::new(e))
    }
}

type Completion = Box<dyn FnOnce(Result<(), DbError>) + Send>;
/// A queued write. Called with `None` when no transaction could be started: it must then
/// not touch the database, only hand back its completion.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Ran + Send>;

/// What a job hands back to the writer.
struct Ran {
    /// Tells the job's caller how its transaction ended.
    done: Completion,
    /// Set by a job without a savepoint of its own (see [`Db::write_unguarded`]) that failed
    /// after changing something: its transaction is rolled back and every job in it fails
    /// with this error.
    fails_batch: Option<DbError>,
}

/// Most jobs folded into one transaction. Smaller than one might think: every statement in a
/// job opens and closes a statement savepoint inside the open transaction, and profiling
/// (perf, cpu-clock) showed that bookkeeping at 27% of the process's CPU with 512; 64 was
/// 10–20% faster end to end in hookline-bench.
const MAX_BATCH: usize = 64;
/// Readers in the pool.
const READERS: usize = 4;

/// Handle to the database: cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Arc<WriteQueue>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    reader_permits: Arc<Semaphore>,
    stats: Mutex<WriteStats>,
    handoff: Arc<super::handoff::Handoff>,
    leases: Arc<super::leases::Leases>,
    subscribers: Arc<super::subscribers::Subscribers>,
    last_triggered: Arc<super::triggered::LastTriggered>,
    callers: super::callers::Callers,
}

impl Drop for Inner {
    /// The last handle is gone: the writer finishes what is queued and stops.
    fn drop(&mut self) {
        self.writer.close();
    }
}

/// Counters of the writer, for metrics and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteStats {
    pub commits: u64,
    pub jobs: u64,
    pub commit_micros: u64,
}

impl Db {
    /// Opens the database in `data_dir`, running migrations first.
    pub fn open(data_dir: &Path) -> Result<Db, super::OpenError> {
        let conn = super::open_and_migrate(data_dir)?;
        let path = super::db_path(data_dir);
        let subscribers = Arc::new(super::subscribers::Subscribers::default());
        subscribers
            .watch(&conn)
            .map_err(|e| super::OpenError::Open(path.clone(), e))?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .and_then(|r| {
                r.busy_timeout(Duration::from_secs(10))?;
                // The pages read many statements; keep them parsed as the writer does.
                r.set_prepared_statement_cache_capacity(super::STATEMENT_CACHE);
                r.pragma_update(None, "foreign_keys", "ON")?;
                super::stable_plans(&r)?;
                Ok(r)
            })
            .map_err(|e| super::OpenError::Open(path.clone(), e))?;
            readers.push(r);
        }
        let queue = Arc::new(WriteQueue::default());
        let inner = Arc::new(Inner {
            path,
            writer: queue.clone(),
            writer_thread: Mutex::new(None),
            readers: Mutex::new(readers),
            reader_permits: Arc::new(Semaphore::new(READERS)),
            stats: Mutex::new(WriteStats::default()),
            handoff: Arc::default(),
            leases: Arc::default(),
            subscribers: subscribers.clone(),
            last_triggered: Arc::default(),
            callers: Default::default(),
        });
        let weak = Arc::downgrade(&inner);
        let checkpointer = Checkpointer::spawn(&inner.path);
        let in_step = InStep {
            handoff: inner.handoff.clone(),
            leases: inner.leases.clone(),
            subscribers,
            last_triggered: inner.last_triggered.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("hookline-db-writer".into())
            .spawn(move || writer_loop(conn, &queue, weak, checkpointer, &in_step))
            .expect("spawn the writer thread");
        *inner.writer_thread.lock().unwrap() = Some(handle);
        Ok(Db { inner })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// API callers looked up lately (see `db::callers`).
    pub(super) fn callers(&self) -> &super::callers::Callers {
        &self.inner.callers
    }

    /// Where publishes lease deliveries straight to this process's dispatcher.
    pub fn handoff(&self) -> &Arc<super::handoff::Handoff> {
        &self.inner.handoff
    }

    /// The deliveries this process's dispatcher holds (see [`super::leases`]).
    pub fn leases(&self) -> &Arc<super::leases::Leases> {
        &self.inner.leases
    }

    /// What publishes read before they store, kept on the writer (see
    /// [`super::subscribers`]).
    pub fn subscribers(&self) -> &Arc<super::subscribers::Subscribers> {
        &self.inner.subscribers
    }

    /// Webhooks' trigger times noted by publishes, written before each commit (see
    /// [`super::triggered`]).
    pub fn last_triggered(&self) -> &Arc<super::triggered::LastTriggered> {
        &self.inner.last_triggered
    }

    /// Runs `f` on the writer connection inside its own savepoint, batched with other jobs
    /// into one transaction. Resolves only after that transaction has committed (or failed):
    /// an `Ok` is durable. If `f` returns an error, only its own changes are rolled back.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.queue_write(Lane::Prompt, f).await
    }

    /// Like [`Db::write`], without a savepoint of its own, for the queue's busiest jobs
    /// (publishes, claim rounds, attempt results): a savepoint copies every page the job
    /// changes into SQLite's statement journal, and without them the writer's CPU per single
    /// publish fell by a fifth (the README's table, 2026-12-06).
    ///
    /// The job must change nothing unless it then succeeds: it answers refusals (a domain
    /// outcome) before its first change. If it fails after a change, on a database error,
    /// its whole transaction is rolled back and every job in it fails with that error, as
    /// when a `COMMIT` fails; such errors (a full disk, an I/O error) would mostly have failed
    /// the `COMMIT` anyway.
    pub(super) async fn write_unguarded<T, F>(&self, lane: Lane, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.enqueue(lane, move |conn| {
            let before = conn.total_changes();
            let result = f(conn);
            let fails_batch = match &result {
                Err(e) if conn.total_changes() != before => Some(e.clone()),
                _ => None,
            };
            (result, fails_batch)
        })
        .await
    }

    /// Like [`Db::write`], for jobs that can fail with a domain error `E`: any `Err`, domain
    /// or database, rolls back everything the job wrote.
    pub async fn try_write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.queue_write(Lane::Prompt, f).await
    }

    /// Like [`Db::write`], for large jobs nobody waits on at a screen or an API client: large
    /// batches of attempt results (small ones go with publishes: `queue::RECORD_PROMPT_MOST`),
    /// bulk retries and replays, retention, purges. They take turns with the other
    /// writes and never share a transaction with them, so a publish waits behind at most one
    /// of them (see [`WriteQueue`]).
    pub async fn write_background<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.queue_write(Lane::Background, f).await
    }

    /// Queues `f` inside its own savepoint.
    async fn queue_write<T, E, F>(&self, lane: Lane, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.enqueue(lane, move |conn| (in_savepoint(conn, f), None))
            .await
    }

    /// Queues `run`, which answers the job's result and whether it fails its whole batch
    /// (see [`Ran`]).
    async fn enqueue<T, E, F>(&self, lane: Lane, run: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> (Result<T, E>, Option<DbError>) + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let queued = Instant::now();
        let subscribers = self.inner.subscribers.clone();
        let job: Job = Box::new(move |conn: Option<&Connection>| -> Ran {
            let timing = lane.timing();
            timing.wait.observe(queued.elapsed().as_secs_f64());
            let (result, fails_batch) = match conn {
                Some(conn) => run(conn),
                None => (Err(E::from(DbError::Closed)), None),
            };
            if result.is_err() {
                // Its changes were rolled back: what was read after them was never there.
                subscribers.forget();
            }
            let done: Completion = Box::new(move |commit: Result<(), DbError>| {
                timing.write.observe(queued.elapsed().as_secs_f64());
                let _ = tx.send(match commit {
                    Ok(()) => result,
                    Err(e) => Err(E::from(e)),
                });
            });
            Ran { done, fails_batch }
        });
        self.inner.writer.push(lane, job)?;
        rx.await.map_err(|_| DbError::Closed)?
    }

    /// Runs `f` on a read-only connection from the pool, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        // The permit travels with the blocking task and is released only after the
        // connection is back in the pool, even if this future is dropped midway.
        let permit = self
            .inner
            .reader_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbError::Closed)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.readers.lock().unwrap().pop().ok_or(DbError::Closed)?;
            let result = f(&conn);
            inner.readers.lock().unwrap().push(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| DbError::Task(Arc::new(e)))?
    }

    /// For tests: a prompt write job that holds the writer, once it runs, until `go` is
    /// sent, so that what is queued meanwhile waits behind it. Answers the job's task and `go`.
    #[cfg(test)]
    pub(crate) async fn hold_writer(
        &self,
    ) -> (
        tokio::task::JoinHandle<Result<(), DbError>>,
        mpsc::Sender<()>,
    ) {
        let (go, wait) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel::<()>();
        let db = self.clone();
        let holder = tokio::spawn(async move {
            db.write(move |_| {
                started_tx.send(()).unwrap();
                wait.recv().unwrap();
                Ok(())
            })
            .await
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        (holder, go)
    }

    /// Asks whether a heavy job waits for the writer (see [`Lane::Heavy`]); for a job to
    /// ask while it runs on the writer.
    pub(super) fn heavy_waits(&self) -> impl Fn() -> bool + Send + 'static {
        let queue = self.inner.writer.clone();
        move || !queue.lanes.lock().unwrap().heavy.is_empty()
    }

    /// Jobs waiting in the writer's `lane`.
    #[cfg(test)]
    pub(super) fn queued_in(&self, lane: Lane) -> usize {
        self.inner.writer.lanes.lock().unwrap().of(lane).len()
    }

    /// For tests: waits until at least `n` jobs wait in the writer's `lane`.
    #[cfg(test)]
    pub(super) async fn until_queued_in(&self, lane: Lane, n: usize) {
        while self.queued_in(lane) < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Jobs waiting for the writer: (prompt and heavy lanes, background lane).
    #[cfg(test)]
    pub(super) fn queued(&self) -> (usize, usize) {
        let l = self.inner.writer.lanes.lock().unwrap();
        (l.prompt.len() + l.heavy.len(), l.background.len())
    }

    pub fn write_stats(&self) -> WriteStats {
        *self.inner.stats.lock().unwrap()
    }

    /// Stops accepting writes, lets the writer finish what is queued, and closes every
    /// connection (checkpointing the WAL). Idempotent.
    /// Answers when the database does: a read of `SELECT 1`.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .map(|_| ())
    }

    pub fn close(&self) {
        self.inner.writer.close();
        if let Some(h) = self.inner.writer_thread.lock().unwrap().take() {
            let _ = h.join();
        }
        self.inner.reader_permits.close();
        self.inner.readers.lock().unwrap().clear();
    }
}

fn in_savepoint<T, E: From<DbError>>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    // Cached statements: these run for every job, so parse them once.
    conn.prepare_cached("SAVEPOINT job")
        .and_then(|mut st| st.execute([]))
        .map_err(|e| E::from(e.into()))?;
    let result = f(conn);
    let end = if result.is_ok() {
        conn.prepare_cached("RELEASE job")
            .and_then(|mut st| st.execute([]))
    } else {
        conn.prepare_cached("ROLLBACK TO job")
            .and_then(|mut st| st.execute([]))
            .and_then(|_| {
                conn.prepare_cached("RELEASE job")
                    .and_then(|mut st| st.execute([]))
            })
    };
    if let Err(e) = end {
        return Err(E::from(e.into()));
    }
    result
}

/// WAL pages the writer lets pile up before it checkpoints itself. With the checkpointer
/// running this is only a backstop (32 MiB); without it, SQLite's default.
const BACKSTOP_AUTOCHECKPOINT: u32 = 8192;
/// How long the checkpointer lets commits gather before a checkpoint. Short, so that each
/// checkpoint has little to write: its `fsync` of the database file and the writer's `fsync`
/// of the WAL wait for each other on the disk. Timed per commit while a backlog drained
/// (`noisy`), checkpoints of 100 ms of pages took up to 20–50 ms, and the slowest commits
/// ended with them, a quiet tenant's publish waiting in them: its p99 beside 100,000
/// draining was 16.6–18.1 ms at 100 ms, 8.7–11.1 at 25 (see the README's table). Shorter
/// (5 ms) gained nothing more; longer (1 s) made fewer but larger stalls (p99 36 ms).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(25);

/// Copies committed WAL pages back into the database file on its own thread and connection,
/// so the writer does not: with SQLite's automatic checkpoint the writer thread spent 4–6%
/// of its time (and an fsync of the database file) on it, inside a commit. The checkpoints
/// are PASSIVE: they never wait for or block the writer or readers.
struct Checkpointer {
    nudge: mpsc::SyncSender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    fn spawn(path: &Path) -> Option<Checkpointer> {
        let conn = match Connection::open(path).and_then(|c| {
            super::configure(&c)?;
            Ok(c)
        }) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no background checkpointer; the writer will checkpoint");
                return None;
            }
        };
        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("hookline-db-checkpoint".into())
            .spawn(move || {
                while nudged.recv().is_ok() {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    while nudged.try_recv().is_ok() {}
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; retrying after the next commit");
                    }
                }
            })
            .ok()?;
        Some(Checkpointer { nudge, thread })
    }

    /// After a commit: a checkpoint is due soon. Never blocks.
    fn nudge(&self) {
        let _ = self.nudge.try_send(());
    }

    fn stop(self) {
        drop(self.nudge);
        let _ = self.thread.join();
    }
}

/// Which queue of the writer a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    /// Someone waits for it: a publish's 202, a page, a claim round.
    Prompt,
    /// Large work in the background (see [`Db::write_background`]).
    Background,
    /// Someone waits for it, and it writes much at once: a batch publish that stores
    /// thousands of deliveries (`publish::HEAVY_DELIVERIES`), tens of milliseconds of the
    /// writer each.
    Heavy,
}

/// The writer's three queues. A transaction holds jobs of one lane only.
///
/// - Prompt and heavy jobs go before background ones, but when both wait they take turns,
///   transaction by transaction, so neither starves; and a background transaction ends early
///   as soon as a prompt or heavy job arrives. A publish thus waits for at most the
///   background job running when it came, never for a transaction full of them: before, a
///   publish arriving behind two batches of 512 attempt results shared their transaction and
///   waited for all of them.
/// - Prompt and heavy jobs take turns the same way, and a heavy transaction ends early as
///   soon as a prompt job arrives. A claim round or a single publish thus waits for at most
///   one heavy publish, not for every one queued: when four clients kept 500-event batches
///   to ten webhooks queued (30 ms of the writer each), they shared one transaction with
///   the claim rounds queued behind them, and the senders got 128 deliveries every
///   60–120 ms while the publishes lasted (1% of a run's deliveries arrived meanwhile).
#[derive(Default)]
struct WriteQueue {
    lanes: Mutex<Lanes>,
    arrived: Condvar,
}

#[derive(Default)]
struct Lanes {
    prompt: VecDeque<Job>,
    background: VecDeque<Job>,
    heavy: VecDeque<Job>,
    closed: bool,
    /// The lane of the last transaction, for the background lane's turns.
    last: Option<Lane>,
    /// The lane of the last prompt or heavy transaction, for the heavy lane's turns.
    last_foreground: Option<Lane>,
}

/// A lane's two write-time histograms (`hookline_db_write_wait_seconds` and
/// `hookline_db_write_seconds`), looked up in their labelled families once, not per job on
/// the writer thread.
struct LaneTiming {
    wait: prometheus_client::metrics::histogram::Histogram,
    write: prometheus_client::metrics::histogram::Histogram,
}

impl Lane {
    fn name(self) -> &'static str {
        match self {
            Lane::Prompt => "prompt",
            Lane::Background => "background",
            Lane::Heavy => "heavy",
        }
    }

    fn timing(self) -> &'static LaneTiming {
        static TIMING: [OnceLock<LaneTiming>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        TIMING[self as usize].get_or_init(|| {
            let m = crate::metrics::global();
            let label = crate::metrics::LaneLabel { lane: self.name() };
            LaneTiming {
                // Clones share the family's histogram.
                wait: m.db_write_wait_seconds.get_or_create(&label).clone(),
                write: m.db_write_seconds.get_or_create(&label).clone(),
            }
        })
    }
}

impl Lanes {
    fn of(&mut self, lane: Lane) -> &mut VecDeque<Job> {
        match lane {
            Lane::Prompt => &mut self.prompt,
            Lane::Background => &mut self.background,
            Lane::Heavy => &mut self.heavy,
        }
    }

    /// Whether a prompt or heavy job waits.
    fn foreground_waits(&self) -> bool {
        !self.prompt.is_empty() || !self.heavy.is_empty()
    }
}

impl WriteQueue {
    fn push(&self, lane: Lane, job: Job) -> Result<(), DbError> {
        let mut l = self.lanes.lock().unwrap();
        if l.closed {
            return Err(DbError::Closed);
        }
        l.of(lane).push_back(job);
        drop(l);
        self.arrived.notify_one();
        Ok(())
    }

    fn close(&self) {
        self.lanes.lock().unwrap().closed = true;
        self.arrived.notify_one();
    }

    /// The first job of the next transaction, and its lane; `None` once closed and empty.
    fn next(&self) -> Option<(Lane, Job)> {
        let mut l = self.lanes.lock().unwrap();
        loop {
            let background_turn =
                l.last.is_some_and(|last| last != Lane::Background) && !l.background.is_empty();
            let heavy_turn = l.last_foreground == Some(Lane::Prompt) && !l.heavy.is_empty();
            let lane = if l.foreground_waits() && !background_turn {
                if !l.prompt.is_empty() && !heavy_turn {
                    Lane::Prompt
                } else {
                    Lane::Heavy
                }
            } else if !l.background.is_empty() {
                Lane::Background
            } else if l.closed {
                return None;
            } else {
                l = self.arrived.wait(l).unwrap();
                continue;
            };
            l.last = Some(lane);
            if lane != Lane::Background {
                l.last_foreground = Some(lane);
            }
            return l.of(lane).pop_front().map(|j| (lane, j));
        }
    }

    /// Another job for the open transaction of `lane`, if one waits (and, for a background
    /// transaction, no prompt or heavy job does; for a heavy one, no prompt job does).
    fn more(&self, lane: Lane) -> Option<Job> {
        let mut l = self.lanes.lock().unwrap();
        let ends = match lane {
            Lane::Prompt => false,
            Lane::Heavy => !l.prompt.is_empty(),
            Lane::Background => l.foreground_waits(),
        };
        if ends {
            return None;
        }
        l.of(lane).pop_front()
    }
}

/// What the writer keeps in memory in step with its transactions.
struct InStep {
    handoff: Arc<super::handoff::Handoff>,
    leases: Arc<super::leases::Leases>,
    subscribers: Arc<super::subscribers::Subscribers>,
    last_triggered: Arc<super::triggered::LastTriggered>,
}

impl InStep {
    /// The transaction committed, or was rolled back.
    fn ended(&self, committed: bool) {
        // Deliveries leased at publish go to the dispatcher only once they are stored.
        self.handoff.committed(committed);
        // Claims held and let go of by the transaction's jobs stand or fall with it.
        self.leases.committed(committed);
        if !committed {
            // What publishes read after a change it rolled back was never committed, and
            // the trigger times they noted never happened.
            self.subscribers.forget();
            self.last_triggered.forget();
        }
    }
}

fn writer_loop(
    conn: Connection,
    queue: &WriteQueue,
    inner: std::sync::Weak<Inner>,
    checkpointer: Option<Checkpointer>,
    in_step: &InStep,
) {
    if checkpointer.is_some() {
        if let Err(e) = conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_AUTOCHECKPOINT) {
            tracing::warn!(error = %e, "cannot raise wal_autocheckpoint");
        }
    }
    let mut completions: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    while let Some((lane, first)) = queue.next() {
        let started = Instant::now();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Could not even start (e.g. locked for longer than the busy timeout): fail the
            // job without running it.
            let err = DbError::from(e);
            tracing::error!(error = %err, "cannot begin a write transaction");
            (first(None).done)(Err(err));
            continue;
        }
        let ran = first(Some(&conn));
        completions.push(ran.done);
        let mut failed = ran.fails_batch;
        // SQLite may roll the whole transaction back on its own after some errors (a full
        // disk, I/O errors): a job run after that would commit on its own (its SAVEPOINT
        // opening a transaction of its own) and then hear that the batch's COMMIT failed. So
        // the batch ends there; the failed COMMIT reports the rollback to the jobs in it. So
        // it does when a job without a savepoint failed halfway.
        while failed.is_none() && completions.len() < MAX_BATCH && !conn.is_autocommit() {
            match queue.more(lane) {
                Some(job) => {
                    let ran = job(Some(&conn));
                    completions.push(ran.done);
                    failed = ran.fails_batch;
                }
                None => break,
            }
        }
        // The transaction's last statements: its publishes' trigger times, once per webhook.
        // (Rolled back by SQLite already, it has nothing to write; the COMMIT then fails.)
        if failed.is_none() && !conn.is_autocommit() {
            failed = in_step.last_triggered.flush(&conn).err();
        }
        let commit = match failed {
            Some(e) => Err(e),
            None => conn.execute_batch("COMMIT").map_err(DbError::from),
        };
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        } else if let Some(c) = &checkpointer {
            c.nudge();
        }
        in_step.ended(commit.is_ok());
        let m = crate::metrics::global();
        m.db_commit_seconds.observe(started.elapsed().as_secs_f64());
        m.db_batch_jobs.observe(completions.len() as f64);
        if let Some(inner) = inner.upgrade() {
            let mut s = inner.stats.lock().unwrap();
            s.commits += 1;
            s.jobs += completions.len() as u64;
            s.commit_micros += started.elapsed().as_micros() as u64;
        }
        for c in completions.drain(..) {
            c(commit.clone());
        }
    }
    // Channel closed: fold the WAL back into the main file before closing.
    if let Some(c) = checkpointer {
        c.stop();
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    let _ = conn.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    impl From<DbError> for String {
        fn from(e: DbError) -> String {
            e.to_string()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_dropped_midway_never_leave_the_pool_empty() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        // Start more slow reads than there are connections and drop them all while running.
        for _ in 0..3 {
            let mut slow = Vec::new();
            for _ in 0..READERS * 2 {
                let db = db.clone();
                slow.push(tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_millis(20),
                        db.read(|_| {
                            std::thread::sleep(std::time::Duration::from_millis(60));
                            Ok(())
                        }),
                    )
                    .await;
                }));
            }
            for t in slow {
                t.await.unwrap();
            }
            // Every read started now gets a connection, none sees "closed".
            let mut fast = Vec::new();
            for _ in 0..READERS * 4 {
                let db = db.clone();
                fast.push(tokio::spawn(async move {
                    db.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
                        .await
                }));
            }
            for t in fast {
                assert_eq!(t.await.unwrap().unwrap(), 1);
            }
        }
    }

    #[tokio::test]
    async fn a_failing_job_rolls_back_only_itself_and_batches_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let ins = |slug: &'static str| {
            move |c: &Connection| -> Result<(), DbError> {
                c.execute(
                    "INSERT INTO workspaces (slug, name, created_at) VALUES (?1, ?1, 0)",
                    [slug],
                )?;
                Ok(())
            }
        };
        // Domain error after a write: nothing of it stays.
        let r: Result<(), String> = db
            .try_write(|c| {
                c.execute(
                    "INSERT INTO workspaces (slug, name, created_at) VALUES ('gone', 'x', 0)",
                    [],
                )
                .map_err(|e| e.to_string())?;
                Err("domain says no".to_string())
            })
            .await;
        assert_eq!(r.unwrap_err(), "domain says no");
        // Many concurrent writers: all committed, in fewer transactions than jobs.
        let mut tasks = Vec::new();
        for i in 0..200 {
            let db = db.clone();
            let slug: &'static str = Box::leak(format!("w{i}").into_boxed_str());
            tasks.push(tokio::spawn(async move { db.write(ins(slug)).await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let n: i64 = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM workspaces", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 200);
        let gone: i64 = db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM workspaces WHERE slug = 'gone'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(gone, 0);
        let stats = db.write_stats();
        assert_eq!(stats.jobs, 201);
        assert!(stats.commits <= stats.jobs);
        db.close();
        assert!(matches!(db.write(ins("late")).await, Err(DbError::Closed)));
    }

    /// A job whose transaction SQLite rolled back (simulated here by the job itself) ends its
    /// batch: the jobs queued behind it run in the next transaction, so none of them commits
    /// on its own while being told that the batch failed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_rolled_back_under_a_job_ends_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let first = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(|c| {
                    // Let the others queue up behind this job, then lose the transaction.
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    c.execute_batch("ROLLBACK")?;
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let mut behind = Vec::new();
        for i in 0..5 {
            let db = db.clone();
            behind.push(tokio::spawn(async move {
                db.write(move |c| {
                    c.execute(
                        "INSERT INTO workspaces (slug, name, created_at) VALUES (?1, ?1, 0)",
                        [format!("behind{i}")],
                    )?;
                    Ok(())
                })
                .await
            }));
        }
        assert!(first.await.unwrap().is_err(), "its savepoint is gone");
        for (i, t) in behind.into_iter().enumerate() {
            let told = t.await.unwrap();
            let stored: i64 = db
                .read(move |c| {
                    Ok(c.query_row(
                        "SELECT count(*) FROM workspaces WHERE slug = ?1",
                        [format!("behind{i}")],
                        |r| r.get(0),
                    )?)
                })
                .await
                .unwrap();
            assert!(told.is_ok(), "job {i} behind the rollback: {told:?}");
            assert_eq!(stored, 1, "job {i} is stored once, as it was told");
        }
    }
    /// Queues a write job and answers its task.
    type Spawn = Box<dyn FnOnce(&Db) -> tokio::task::JoinHandle<Result<(), DbError>>>;

    /// Holds the writer in a first job until `jobs` are queued behind it (all prompt), then
    /// lets it go: the jobs share the first one's transaction, in order. Answers each job's
    /// result, the first's first.
    async fn in_one_batch(db: &Db, jobs: Vec<Spawn>) -> Vec<Result<(), DbError>> {
        let (first, go) = db.hold_writer().await;
        let mut tasks = Vec::new();
        for job in jobs {
            let before = db.queued().0;
            tasks.push(job(db));
            while db.queued().0 == before {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        go.send(()).unwrap();
        let mut results = vec![first.await.unwrap()];
        for t in tasks {
            results.push(t.await.unwrap());
        }
        results
    }

    fn insert(slug: &'static str) -> impl FnOnce(&Connection) -> Result<(), DbError> {
        move |c: &Connection| {
            c.execute(
                "INSERT INTO workspaces (slug, name, created_at) VALUES (?1, ?1, 0)",
                [slug],
            )?;
            Ok(())
        }
    }

    async fn stored(db: &Db, slug: &'static str) -> bool {
        db.read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM workspaces WHERE slug = ?1",
                [slug],
                |r| r.get::<_, i64>(0),
            )? == 1)
        })
        .await
        .unwrap()
    }

    /// A job without a savepoint that fails after a change cannot be undone alone: its whole
    /// transaction is rolled back, every job in it hears its error, and the jobs queued
    /// behind it run in the next transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unguarded_job_failing_after_a_change_fails_its_whole_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let guarded = |slug: &'static str| -> Spawn {
            Box::new(move |db: &Db| {
                let db = db.clone();
                tokio::spawn(async move { db.write(insert(slug)).await })
            })
        };
        let unguarded = |slug: &'static str, then_fail: bool| -> Spawn {
            Box::new(move |db: &Db| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write_unguarded(Lane::Prompt, move |c| {
                        insert(slug)(c)?;
                        if then_fail {
                            c.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                        }
                        Ok(())
                    })
                    .await
                })
            })
        };
        let results = in_one_batch(
            &db,
            vec![
                guarded("before"),
                unguarded("fine", false),
                unguarded("halfway", true),
                guarded("after"),
            ],
        )
        .await;
        for (i, r) in results[..4].iter().enumerate() {
            let e = r.as_ref().expect_err("the transaction was rolled back");
            assert!(e.to_string().contains("no_such_table"), "job {i}: {e}");
        }
        assert!(results[4].is_ok(), "{:?}", results[4]);
        for slug in ["before", "fine", "halfway"] {
            assert!(!stored(&db, slug).await, "{slug} was rolled back");
        }
        assert!(stored(&db, "after").await, "the next transaction commits");
        // Nothing is left open: the next write commits.
        db.write(insert("later")).await.unwrap();
        assert!(stored(&db, "later").await);
    }

    /// One that fails before changing anything (its refusal, or a statement SQLite undid on
    /// its own) leaves the others in its transaction alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unguarded_job_failing_before_a_change_leaves_its_transaction_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.write(insert("taken")).await.unwrap();
        let job = |f: fn(&Connection) -> Result<(), DbError>| -> Spawn {
            Box::new(move |db: &Db| {
                let db = db.clone();
                tokio::spawn(async move { db.write_unguarded(Lane::Prompt, f).await })
            })
        };
        let results = in_one_batch(
            &db,
            vec![
                job(|c| insert("one")(c)),
                // A unique key taken: the statement fails and changes nothing.
                job(|c| insert("taken")(c)),
                // Fails at its first statement.
                job(|c| {
                    c.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                    Ok(())
                }),
                // Refuses with nothing written.
                job(|_| Err(DbError::Closed)),
                job(|c| insert("two")(c)),
            ],
        )
        .await;
        let ok: Vec<bool> = results.iter().map(|r| r.is_ok()).collect();
        assert_eq!(ok, [true, true, false, false, false, true], "{results:?}");
        assert!(stored(&db, "one").await && stored(&db, "two").await);
    }

    /// Holds the writer in a first job of lane `first` until the `jobs` are queued behind it,
    /// in their order and lanes, then lets it go. Answers the order they ran in (the first
    /// one as `first`) and how many transactions they took.
    async fn ran_in_order(
        db: &Db,
        first: Lane,
        jobs: &[(Lane, &'static str)],
    ) -> (Vec<&'static str>, u64) {
        let order = Arc::new(Mutex::new(Vec::new()));
        let (go, wait) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel::<()>();
        let commits = db.write_stats().commits;
        let holder = {
            let (db, order) = (db.clone(), order.clone());
            tokio::spawn(async move {
                db.queue_write(first, move |_| -> Result<(), DbError> {
                    started_tx.send(()).unwrap();
                    wait.recv().unwrap();
                    order.lock().unwrap().push("first");
                    Ok(())
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for &(lane, name) in jobs {
            let before = db.queued_in(lane);
            tasks.push({
                let (db, order) = (db.clone(), order.clone());
                tokio::spawn(async move {
                    db.queue_write(lane, move |_| -> Result<(), DbError> {
                        order.lock().unwrap().push(name);
                        Ok(())
                    })
                    .await
                })
            });
            // In this order: wait until it is queued.
            db.until_queued_in(lane, before + 1).await;
        }
        go.send(()).unwrap();
        holder.await.unwrap().unwrap();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap().clone();
        (order, db.write_stats().commits - commits)
    }

    /// Background work queued ahead of a prompt write does not delay it by more than the
    /// background job already running: the prompt one gets the next transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prompt_write_goes_ahead_of_queued_background_work() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let (order, _) = ran_in_order(
            &db,
            Lane::Background,
            &[
                (Lane::Background, "bg1"),
                (Lane::Background, "bg2"),
                (Lane::Background, "bg3"),
                (Lane::Prompt, "prompt"),
            ],
        )
        .await;
        assert_eq!(order, vec!["first", "prompt", "bg1", "bg2", "bg3"]);
        // So does a heavy publish.
        let (order, _) = ran_in_order(
            &db,
            Lane::Background,
            &[(Lane::Background, "bg1"), (Lane::Heavy, "heavy")],
        )
        .await;
        assert_eq!(order, vec!["first", "heavy", "bg1"]);
    }

    /// A claim round or a single publish queued behind heavy publishes waits for the one
    /// running, not for every one queued (as it did when they shared the prompt lane and its
    /// transaction): it gets the next transaction. The heavy ones queued then share one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prompt_write_waits_for_one_heavy_publish_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let (order, commits) = ran_in_order(
            &db,
            Lane::Heavy,
            &[
                (Lane::Heavy, "heavy1"),
                (Lane::Heavy, "heavy2"),
                (Lane::Prompt, "claim"),
                (Lane::Prompt, "publish"),
                (Lane::Heavy, "heavy3"),
            ],
        )
        .await;
        assert_eq!(
            order,
            vec!["first", "claim", "publish", "heavy1", "heavy2", "heavy3"]
        );
        assert_eq!(commits, 3, "first | claim, publish | heavy1-3");
    }

    /// A steady stream of prompt writes starves neither background work nor heavy publishes:
    /// the lanes take turns, transaction by transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn other_lanes_get_their_turn_beside_a_stream_of_prompt_writes() {
        for lane in [Lane::Background, Lane::Heavy] {
            let dir = tempfile::tempdir().unwrap();
            let db = Db::open(dir.path()).unwrap();
            let stream = {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut writes = Vec::new();
                    for _ in 0..600 {
                        let db = db.clone();
                        writes.push(tokio::spawn(async move {
                            db.write(|_| {
                                std::thread::sleep(Duration::from_millis(2));
                                Ok(())
                            })
                            .await
                        }));
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let queued_all = Instant::now();
                    for w in writes {
                        w.await.unwrap().unwrap();
                    }
                    queued_all
                })
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            db.queue_write(lane, |_| -> Result<(), DbError> { Ok(()) })
                .await
                .unwrap();
            let done = Instant::now();
            let queued_all = stream.await.unwrap();
            assert!(
                done < queued_all,
                "the {lane:?} write waited for the whole stream of prompt writes"
            );
        }
    }
}

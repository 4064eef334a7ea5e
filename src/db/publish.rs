//! Publishing on SQLite: an event and all its deliveries are stored in one write job (of a
//! group commit), with the `Idempotency-Key` lookup and the remembered answer
//! in the same unit, and the publisher hears only after the commit.

use super::hooks::{self, DeliveryRow, EventRow, Idempotent};
use super::pool::Lane;
use super::queue::Enqueuer;
use super::{Db, DbError};
use crate::clock::now_ms;
use crate::domain::event::{event_body, new_event_id};
use crate::domain::EventTypeName;

/// An event to publish, already checked at the edge (a well-formed type name, `data` a JSON
/// object of allowed size), with its id, time and exact body made before the write: the
/// writer thread only stores.
pub struct Draft {
    pub(crate) public_id: String,
    pub(crate) event_type: String,
    pub(crate) created_at: i64,
    pub(crate) body: String,
    /// The input field it came from, for errors (`type`, `events[3].type`, …).
    pub(crate) type_field: String,
}

impl Draft {
    /// `data` is the published JSON, byte for byte.
    pub fn new(event_type: &EventTypeName, data: &str, type_field: String) -> Draft {
        let created_at = now_ms();
        let public_id = new_event_id(created_at);
        let body = event_body(&public_id, event_type.as_str(), created_at, data);
        Draft {
            public_id,
            event_type: event_type.to_string(),
            created_at,
            body,
            type_field,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct Stored {
    pub public_id: String,
    pub event_type: String,
    pub created_at: i64,
    /// Deliveries created for it: one per subscribed active webhook.
    pub deliveries: usize,
    /// How many of them went straight to this process's dispatcher (see `db::handoff`); the
    /// others wait in the queue for a claim round.
    pub handed_off: usize,
}

/// A publish expected to store at least this many deliveries waits in the writer's heavy
/// lane (see `pool::Lane::Heavy`): at about 6 µs of the writer each, 6 ms or more.
pub const HEAVY_DELIVERIES: usize = 1_000;

/// An `Idempotency-Key` with what it guards: the same key and body within 24 hours get the
/// first answer again; the same key with another body is refused.
pub struct Idempotency {
    pub key: String,
    /// Which publish route the key belongs to.
    pub route: &'static str,
    /// SHA-256 of the request body.
    pub request_hash: Vec<u8>,
}

/// What a publish came to. Only `Fresh` stored anything.
pub enum Published {
    /// Stored now; with the answer as it was remembered for the key.
    Fresh(Vec<Stored>, String),
    /// The same key and body were published before: that answer again.
    Replay { status: u16, body: String },
    /// The key was used in the last 24 hours with a different body.
    KeyMismatch,
    /// An event's type is not defined (`field`: the input field it came from).
    UnknownType { field: String, name: String },
}

impl Db {
    pub async fn publish(
        &self,
        ws: i64,
        drafts: Vec<Draft>,
        idempotency: Option<Idempotency>,
        answer: impl FnOnce(&[Stored]) -> String + Send + 'static,
    ) -> Result<Published, DbError> {
        let handoff = (self.handoff().clone(), self.leases().clone());
        let subscribers = self.subscribers().clone();
        let last_triggered = self.last_triggered().clone();
        // The answer is made on the writer thread only when the key must remember it; else
        // after the commit, off the writer, which every other write waits for.
        let (answer_now, answer_after) = match idempotency {
            Some(_) => (Some(answer), None),
            None => (None, Some(answer)),
        };
        // Its fan-out as the writer last read the workspace's webhooks (one if it has not):
        // a guess, for the writer's order only.
        let expected = drafts.len() * subscribers.known_webhooks(ws).unwrap_or(1).max(1);
        let lane = if expected >= HEAVY_DELIVERIES {
            Lane::Heavy
        } else {
            Lane::Prompt
        };
        // Without a savepoint (the busiest job of all): every refusal is answered before
        // the first change.
        let outcome = self
            .write_unguarded(lane, move |c| -> Result<Published, DbError> {
                if let Some(i) = &idempotency {
                    match hooks::idempotency_lookup(c, ws, i.route, &i.key, &i.request_hash)? {
                        Idempotent::New => {}
                        Idempotent::Replay { status, body } => {
                            return Ok(Published::Replay { status, body })
                        }
                        Idempotent::Mismatch => return Ok(Published::KeyMismatch),
                    }
                }
                let mut known: Vec<&str> = Vec::new();
                for d in &drafts {
                    if !known.contains(&d.event_type.as_str()) {
                        if !subscribers.event_type_exists(c, &d.event_type)? {
                            return Ok(Published::UnknownType {
                                field: d.type_field.clone(),
                                name: d.event_type.clone(),
                            });
                        }
                        known.push(&d.event_type);
                    }
                }
                let mut stored = Vec::with_capacity(drafts.len());
                let mut writer = Enqueuer::with(ws, subscribers.webhooks(c, ws)?, Some(handoff));
                for d in drafts {
                    let (_, deliveries, handed_off) = writer.insert(
                        c,
                        &hooks::NewEvent {
                            public_id: &d.public_id,
                            event_type: &d.event_type,
                            body: &d.body,
                            created_at: d.created_at,
                        },
                    )?;
                    stored.push(Stored {
                        public_id: d.public_id,
                        event_type: d.event_type,
                        created_at: d.created_at,
                        deliveries,
                        handed_off,
                    });
                }
                let granted = writer.finish(c, Some(&last_triggered))?;
                let mut body = String::new();
                if let (Some(i), Some(answer)) = (&idempotency, answer_now) {
                    body = answer(&stored);
                    hooks::idempotency_store(c, ws, i.route, &i.key, &i.request_hash, 202, &body)?;
                }
                // Stored: the dispatcher gets these once the transaction commits.
                granted.stage();
                Ok(Published::Fresh(stored, body))
            })
            .await?;
        Ok(match outcome {
            Published::Fresh(stored, body) => {
                let body = match answer_after {
                    Some(answer) => answer(&stored),
                    None => body,
                };
                Published::Fresh(stored, body)
            }
            p => p,
        })
    }

    pub async fn event_with_deliveries(
        &self,
        ws: i64,
        public_id: String,
    ) -> Result<Option<(EventRow, Vec<DeliveryRow>)>, DbError> {
        self.read(move |c| {
            let Some(e) = hooks::get_event(c, ws, &public_id)? else {
                return Ok(None);
            };
            let d = hooks::deliveries_of_event(c, ws, e.id)?;
            Ok(Some((e, d)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    //! A webhook's `last_triggered_at` is written once per transaction (see
    //! [`super::super::triggered`]).
    use super::*;

    /// A workspace, a webhook for every type, an event type, and a trigger (on the file, so
    /// the writer's connection has it too) counting writes of `last_triggered_at`.
    async fn served() -> (tempfile::TempDir, crate::db::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(dir.path()).unwrap();
        db.write(|c| {
            c.execute_batch(
                "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0);
                 INSERT INTO event_types (name, created_at) VALUES ('a.b', 0);
                 INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
                   VALUES (1, 1, 'https://a.example/h', '[\"*\"]', '[]', 0, x'00', 0, 0);
                 CREATE TABLE trigger_writes (n INTEGER NOT NULL);
                 CREATE TRIGGER count_trigger_writes AFTER UPDATE OF last_triggered_at ON webhooks
                   BEGIN INSERT INTO trigger_writes VALUES (1); END;",
            )?;
            Ok(())
        })
        .await
        .unwrap();
        (dir, db)
    }

    fn draft(n: i64) -> Draft {
        let name = EventTypeName::parse("a.b").unwrap();
        let mut d = Draft::new(&name, "{}", "type".into());
        d.created_at = 1_000 + n;
        d
    }

    /// Each job's result, in order.
    async fn results(
        jobs: Vec<tokio::task::JoinHandle<Result<(), DbError>>>,
    ) -> Vec<Result<(), DbError>> {
        let mut results = Vec::new();
        for j in jobs {
            results.push(j.await.unwrap());
        }
        results
    }

    fn publish(db: &crate::db::Db, n: i64) -> tokio::task::JoinHandle<Result<(), DbError>> {
        let db = db.clone();
        tokio::spawn(async move {
            match db
                .publish(1, vec![draft(n)], None, |_| String::new())
                .await?
            {
                Published::Fresh(..) => Ok(()),
                _ => panic!("not stored"),
            }
        })
    }

    async fn read(db: &crate::db::Db) -> (Option<i64>, i64) {
        db.read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT last_triggered_at FROM webhooks WHERE id = 1),
                        (SELECT count(*) FROM trigger_writes)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
        .unwrap()
    }

    /// Waits until `n` more jobs are queued for the writer than `before`.
    async fn queued(db: &crate::db::Db, before: usize, n: usize) {
        while db.queued().0 < before + n {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// A publish expected to store `HEAVY_DELIVERIES` or more waits in the writer's heavy
    /// lane, a smaller one in the prompt lane; the guess counts the workspace's webhooks as
    /// the writer last read them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_publish_of_many_deliveries_waits_in_the_heavy_lane() {
        let (_dir, db) = served().await;
        let batch = |db: &crate::db::Db, events: usize| {
            let db = db.clone();
            tokio::spawn(async move {
                let drafts = (0..events as i64).map(draft).collect();
                match db.publish(1, drafts, None, |_| String::new()).await? {
                    Published::Fresh(stored, _) => Ok::<_, DbError>(stored.len()),
                    _ => panic!("not stored"),
                }
            })
        };
        // The writer has read the workspace's webhooks (one) once this is stored.
        assert_eq!(batch(&db, 1).await.unwrap().unwrap(), 1);
        let (holder, go) = db.hold_writer().await;
        let small = batch(&db, HEAVY_DELIVERIES - 1);
        db.until_queued_in(Lane::Prompt, 1).await;
        let large = batch(&db, HEAVY_DELIVERIES);
        db.until_queued_in(Lane::Heavy, 1).await;
        assert_eq!(
            (db.queued_in(Lane::Prompt), db.queued_in(Lane::Heavy)),
            (1, 1)
        );
        go.send(()).unwrap();
        holder.await.unwrap().unwrap();
        assert_eq!(small.await.unwrap().unwrap(), HEAVY_DELIVERIES - 1);
        assert_eq!(large.await.unwrap().unwrap(), HEAVY_DELIVERIES);
        // A second webhook: half as many events make as many deliveries, once it is known.
        db.write(|c| {
            c.execute_batch(
                "INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
                   VALUES (2, 1, 'https://b.example/h', '[\"*\"]', '[]', 0, x'00', 0, 0)",
            )?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(batch(&db, 1).await.unwrap().unwrap(), 1);
        let (holder, go) = db.hold_writer().await;
        let half = batch(&db, HEAVY_DELIVERIES / 2);
        db.until_queued_in(Lane::Heavy, 1).await;
        go.send(()).unwrap();
        holder.await.unwrap().unwrap();
        assert_eq!(half.await.unwrap().unwrap(), HEAVY_DELIVERIES / 2);
    }

    /// Five publishes in one transaction write the webhook's row once, with the latest time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn publishes_in_one_transaction_write_the_trigger_time_once() {
        let (_dir, db) = served().await;
        let (holder, go) = db.hold_writer().await;
        let mut jobs = Vec::new();
        for n in [3, 1, 5, 4, 2] {
            let before = db.queued().0;
            jobs.push(publish(&db, n));
            queued(&db, before, 1).await;
        }
        go.send(()).unwrap();
        holder.await.unwrap().unwrap();
        for r in results(jobs).await {
            r.unwrap();
        }
        assert_eq!(read(&db).await, (Some(1_005), 1));
        // The next transaction writes it again, and only its own time is newer.
        publish(&db, 9).await.unwrap().unwrap();
        assert_eq!(read(&db).await, (Some(1_009), 2));
    }

    /// A transaction rolled back after a publish: the time it noted is not written then, nor
    /// by the next transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rolled_back_publish_leaves_no_trigger_time() {
        let (_dir, db) = served().await;
        let (holder, go) = db.hold_writer().await;
        let before = db.queued().0;
        let published = publish(&db, 7);
        queued(&db, before, 1).await;
        let failing = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write_unguarded(Lane::Prompt, |c| {
                    c.execute("INSERT INTO trigger_writes VALUES (2)", [])?;
                    c.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                    Ok(())
                })
                .await
            })
        };
        queued(&db, before, 2).await;
        go.send(()).unwrap();
        let _ = holder.await.unwrap();
        let results = results(vec![published, failing]).await;
        assert!(results.iter().all(|r| r.is_err()), "{results:?}");
        // The next transaction commits and has nothing of the rolled-back one to write.
        db.write(|c| {
            c.execute("UPDATE workspaces SET name = 'b' WHERE id = 1", [])?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(read(&db).await, (None, 0));
    }
}

//! Publishing on SQLite: an event and all its deliveries are stored in one write job (of a
//! group commit), with the `Idempotency-Key` lookup and the remembered answer
//! in the same unit, and the publisher hears only after the commit.

use super::hooks::{self, DeliveryRow, EventRow, Idempotent};
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
        // The answer is made on the writer thread only when the key must remember it; else
        // after the commit, off the writer, which every other write waits for.
        let (answer_now, answer_after) = match idempotency {
            Some(_) => (Some(answer), None),
            None => (None, Some(answer)),
        };
        // Without a savepoint (the busiest job of all): every refusal is answered before
        // the first change.
        let outcome = self
            .write_unguarded(false, move |c| -> Result<Published, DbError> {
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
                let granted = writer.finish(c)?;
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

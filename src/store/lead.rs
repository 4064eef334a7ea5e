//! Work that one node of a cluster does at a time (plan §3.8): emailing notices and the
//! retention sweep. On SQLite the single process always leads; on PostgreSQL a node leads a
//! role while it holds the role's session advisory lock on a connection of its own, which
//! the server frees at once when that node dies or loses the connection, so another node
//! (trying every 5 s) takes over.

use tokio::sync::watch;

use super::Store;

/// A role one node holds at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Emails failure and disable notices (`crate::notify`).
    Notifier,
    /// Deletes what outlived the retention period (`crate::retention`).
    Retention,
}

impl Role {
    /// The advisory lock's key ("hooknoti", "hookrete").
    pub fn lock_key(self) -> i64 {
        match self {
            Role::Notifier => 0x686f_6f6b_6e6f_7469,
            Role::Retention => 0x686f_6f6b_7265_7465,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Notifier => "notifier",
            Role::Retention => "retention",
        }
    }
}

/// Whether this node holds a role, as it changes.
pub struct Lead {
    held: watch::Receiver<bool>,
    /// On SQLite, the sender of the constant `true` (kept so the channel stays open).
    _always: Option<watch::Sender<bool>>,
}

impl Lead {
    /// Whether this node holds the role now.
    pub fn holds(&self) -> bool {
        *self.held.borrow()
    }

    /// Resolves once this node holds the role (at once if it does).
    pub async fn acquired(&mut self) {
        // An error means the seeking task ended (the node stopped): it will not lead again.
        if self.held.wait_for(|held| *held).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Store {
    /// This node's lead of `role`: always held on SQLite; on PostgreSQL, sought in the
    /// background until the node stops.
    pub fn lead(&self, role: Role) -> Lead {
        match self {
            Store::Sqlite(_) => {
                let (tx, held) = watch::channel(true);
                Lead {
                    held,
                    _always: Some(tx),
                }
            }
            Store::Postgres(pg) => Lead {
                held: pg.lead(role.lock_key(), role.as_str()),
                _always: None,
            },
        }
    }
}

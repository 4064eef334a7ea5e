//! Workspaces: provision, read, change (name and plan), delete. Deleting makes the workspace
//! vanish at once (one small transaction) and then removes its history in batches in the
//! background, each batch its own short write, so other workspaces' deliveries and publishes
//! keep flowing through the writer meanwhile. A removal cut short by a crash resumes at start.

use std::time::Duration;

use crate::domain::NewWorkspace;
use crate::state::AppState;
use crate::store::types::{Workspace, WorkspaceChange};
use crate::store::{Store, StoreError};

use super::{ServiceError, ServiceResult};

/// Rows of history removed per write while a workspace is deleted.
pub const PURGE_BATCH: i64 = 500;

pub async fn create(state: &AppState, new: NewWorkspace) -> ServiceResult<Workspace> {
    let slug = new.slug.to_string();
    state.store.workspace_create(new).await?.ok_or_else(|| {
        ServiceError::Conflict(format!(
            "a workspace '{slug}' already exists; choose another slug or use that one"
        ))
    })
}

/// A page of workspaces by slug, after `after`.
pub async fn list(
    state: &AppState,
    after: Option<String>,
    limit: usize,
) -> ServiceResult<Vec<Workspace>> {
    Ok(state.store.workspaces_page(after, limit).await?)
}

pub async fn get(state: &AppState, slug: &str) -> ServiceResult<Workspace> {
    state
        .store
        .workspace_by_slug(slug)
        .await?
        .ok_or(ServiceError::NotFound("workspace"))
}

pub async fn update(
    state: &AppState,
    slug: &str,
    change: WorkspaceChange,
) -> ServiceResult<Workspace> {
    let id = get(state, slug).await?.id;
    let ws = state
        .store
        .workspace_update(id, change)
        .await?
        .ok_or(ServiceError::NotFound("workspace"))?;
    // Webhooks switched on or off by the plan: the engine reads the change.
    state.wake.notify_one();
    Ok(ws)
}

/// Deletes the workspace: gone for everyone now, its history removed in the background.
pub async fn delete(state: &AppState, slug: &str) -> ServiceResult<Workspace> {
    let ws = get(state, slug).await?;
    let id = ws.id;
    if !state.store.workspace_mark_deleted(id).await? {
        return Err(ServiceError::NotFound("workspace"));
    }
    state.wake.notify_one();
    tracing::info!(workspace = %ws.slug, "workspace deleted; removing its history in batches");
    tokio::spawn(purge(state.store.clone(), id));
    Ok(ws)
}

/// Resumes the removal of workspaces deleted before a crash or restart.
pub async fn resume_purges(store: &Store) -> anyhow::Result<()> {
    let ids = store.workspaces_deleted().await?;
    for id in ids {
        tracing::info!(
            workspace_id = id,
            "resuming the removal of a deleted workspace"
        );
        tokio::spawn(purge(store.clone(), id));
    }
    Ok(())
}

/// Removes a deleted workspace's rows, one short write at a time, pausing between writes so
/// the writer serves everyone else.
pub async fn purge(store: Store, id: i64) {
    let started = std::time::Instant::now();
    let mut batches = 0u64;
    loop {
        match store.workspace_purge_batch(id, PURGE_BATCH).await {
            Ok(true) => break,
            Ok(false) => batches += 1,
            Err(StoreError::Closed) => return,
            Err(e) => {
                tracing::warn!(workspace_id = id, error = %e, "removing a deleted workspace; trying again in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tracing::info!(
        workspace_id = id,
        batches,
        ms = started.elapsed().as_millis() as u64,
        "deleted workspace removed"
    );
}

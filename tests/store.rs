//! Store conformance: one body of store-level checks, run against each backend (SQLite in a
//! temporary data directory, and PostgreSQL on the test cluster, see `common/pg.rs`). The
//! PostgreSQL backend implements the store's methods concept by concept with the same names
//! and signatures; each concept it has joins this suite.

#[path = "common/pg.rs"]
mod pg_cluster;

use hookline::domain::{EventTypeName, NewEventType, NewWorkspace, Scope, Scopes, Slug};
use hookline::store::types::{CallerLookup, NewApiKey, WorkspaceChange};

/// Runs `$body` with `$s` bound to a fresh store of each backend, as two tests.
macro_rules! conformance {
    ($name:ident, |$s:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let $s = hookline::store::Store::open_sqlite(dir.path()).unwrap();
                $body
                $s.close();
            }

            #[tokio::test]
            async fn postgres() {
                let Some(admin) = pg_cluster::admin_url() else { return };
                let db = pg_cluster::TestDb::new(&admin).await;
                let target = hookline::pg::Target::parse(&db.url).unwrap();
                let $s = hookline::pg::PgStore::open(&target, 4).await.unwrap();
                $body
                drop($s);
                db.drop().await;
            }
        }
    };
}

fn new_workspace(slug: &str, max: Option<i64>) -> NewWorkspace {
    NewWorkspace {
        slug: Slug::parse(slug).unwrap(),
        name: format!("{slug} Inc."),
        webhooks_enabled: true,
        max_webhooks: max,
    }
}

conformance!(workspaces_are_made_found_paged_and_changed, |s| {
    let acme = s
        .workspace_create(new_workspace("acme", Some(3)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (acme.slug.as_str(), acme.name.as_str()),
        ("acme", "acme Inc.")
    );
    assert_eq!(acme.max_webhooks, Some(3));
    assert!(acme.webhooks_enabled);
    assert!(
        s.workspace_create(new_workspace("acme", None))
            .await
            .unwrap()
            .is_none(),
        "a taken slug is no error, just nothing made"
    );
    for slug in ["beta", "gamma", "delta"] {
        s.workspace_create(new_workspace(slug, None))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        s.workspace_by_slug("acme").await.unwrap().unwrap().id,
        acme.id
    );
    assert_eq!(
        s.workspace_by_id(acme.id).await.unwrap().unwrap().slug,
        "acme"
    );
    assert!(s.workspace_by_slug("nope").await.unwrap().is_none());
    assert!(s.workspace_by_id(acme.id + 1000).await.unwrap().is_none());
    let all: Vec<String> = s
        .workspaces_all()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.slug)
        .collect();
    assert_eq!(all, ["acme", "beta", "delta", "gamma"]);
    let page: Vec<String> = s
        .workspaces_page(Some("beta".into()), 2)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.slug)
        .collect();
    assert_eq!(page, ["delta", "gamma"]);
    assert_eq!(s.workspaces_page(None, 1).await.unwrap()[0].slug, "acme");
    // A change keeps what it does not name; Some(None) lifts the cap.
    let changed = s
        .workspace_update(
            acme.id,
            WorkspaceChange {
                name: Some("Acme Corp".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.name, "Acme Corp");
    assert_eq!(changed.max_webhooks, Some(3));
    assert!(changed.webhooks_enabled);
    let changed = s
        .workspace_update(
            acme.id,
            WorkspaceChange {
                webhooks_enabled: Some(false),
                max_webhooks: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.name, "Acme Corp");
    assert_eq!(changed.max_webhooks, None);
    assert!(!changed.webhooks_enabled);
    assert!(s
        .workspace_update(acme.id + 1000, WorkspaceChange::default())
        .await
        .unwrap()
        .is_none());
});

conformance!(event_types_are_unique_by_name_and_paged, |s| {
    let new = |name: &str, example: Option<&str>| NewEventType {
        name: EventTypeName::parse(name).unwrap(),
        description: format!("when {name}"),
        example: example.map(str::to_string),
    };
    let paid = s
        .event_type_create(new("order.paid", Some(r#"{"id": 1}"#)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paid.name, "order.paid");
    assert_eq!(
        paid.example.as_deref(),
        Some(r#"{"id": 1}"#),
        "the example is kept byte for byte"
    );
    assert!(s
        .event_type_create(new("order.paid", None))
        .await
        .unwrap()
        .is_none());
    s.event_type_create(new("user.created", None))
        .await
        .unwrap()
        .unwrap();
    s.event_type_create(new("invoice.sent", None))
        .await
        .unwrap()
        .unwrap();
    let names = |v: Vec<hookline::store::types::EventTypeRow>| {
        v.into_iter().map(|t| t.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(s.event_types_all().await.unwrap()),
        ["invoice.sent", "order.paid", "user.created"]
    );
    assert_eq!(
        names(
            s.event_types_page(Some("invoice.sent".into()), 1)
                .await
                .unwrap()
        ),
        ["order.paid"]
    );
    let found = s.event_type_by_name("user.created").await.unwrap().unwrap();
    assert_eq!(found.description, "when user.created");
    assert!(s
        .event_type_by_name("user.deleted")
        .await
        .unwrap()
        .is_none());
});

conformance!(api_keys_find_their_caller_and_revoke_once, |s| {
    let acme = s
        .workspace_create(new_workspace("acme", None))
        .await
        .unwrap()
        .unwrap();
    let beta = s
        .workspace_create(new_workspace("beta", None))
        .await
        .unwrap()
        .unwrap();
    let key = |ws: Option<i64>, hash: &[u8], scopes: &str| NewApiKey {
        workspace_id: ws,
        name: "ci".into(),
        prefix: "hl_abc".into(),
        hash: hash.to_vec(),
        scopes: Scopes::parse(scopes).unwrap(),
        created_by: None,
    };
    let ws_key = s
        .api_key_create(key(Some(acme.id), b"ws-key", "events"))
        .await
        .unwrap();
    assert_eq!(ws_key.workspace_id, Some(acme.id));
    assert!(ws_key.scopes.has(Scope::Events));
    assert!(ws_key.revoked_at.is_none() && ws_key.last_used_at.is_none());
    let instance = s
        .api_key_create(key(None, b"instance-key", "workspaces"))
        .await
        .unwrap();

    // A workspace key acts in its workspace; naming it is fine, naming another is not found.
    match s.api_caller(b"ws-key".to_vec(), None).await.unwrap() {
        CallerLookup::Found(k, Some(ws)) => assert_eq!((k.id, ws.id), (ws_key.id, acme.id)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.api_caller(b"ws-key".to_vec(), Some("acme".into()))
            .await
            .unwrap(),
        CallerLookup::Found(_, Some(_))
    ));
    assert!(matches!(
        s.api_caller(b"ws-key".to_vec(), Some("beta".into())).await.unwrap(),
        CallerLookup::UnknownWorkspace(n) if n == "beta"
    ));
    // An instance key acts where its header says, or nowhere.
    match s
        .api_caller(b"instance-key".to_vec(), Some("beta".into()))
        .await
        .unwrap()
    {
        CallerLookup::Found(k, Some(ws)) => assert_eq!((k.id, ws.id), (instance.id, beta.id)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.api_caller(b"instance-key".to_vec(), None).await.unwrap(),
        CallerLookup::Found(_, None)
    ));
    assert!(matches!(
        s.api_caller(b"instance-key".to_vec(), Some("nope".into())).await.unwrap(),
        CallerLookup::UnknownWorkspace(n) if n == "nope"
    ));
    assert!(matches!(
        s.api_caller(b"no-such-key".to_vec(), None).await.unwrap(),
        CallerLookup::NoKey
    ));

    s.api_key_touch(ws_key.id, 1_234).await.unwrap();
    assert_eq!(
        s.api_key_get(acme.id, ws_key.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(1_234)
    );
    assert!(
        s.api_key_get(beta.id, ws_key.id).await.unwrap().is_none(),
        "another workspace's key"
    );

    let second = s
        .api_key_create(key(Some(acme.id), b"ws-key-2", "webhooks"))
        .await
        .unwrap();
    let page = s.api_keys_page(acme.id, 0, 10).await.unwrap();
    assert_eq!(
        page.iter().map(|k| k.id).collect::<Vec<_>>(),
        [ws_key.id, second.id]
    );
    assert_eq!(
        s.api_keys_page(acme.id, ws_key.id, 10).await.unwrap().len(),
        1
    );
    assert_eq!(
        s.api_keys_all(None).await.unwrap().len(),
        1,
        "the instance keys"
    );

    // Revoking: once; again changes nothing; the key stops working; live keys list first.
    let revoked = s
        .api_key_revoke(Some(acme.id), ws_key.id)
        .await
        .unwrap()
        .unwrap();
    let at = revoked.revoked_at.expect("revoked");
    let again = s
        .api_key_revoke(Some(acme.id), ws_key.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(at));
    assert!(s
        .api_key_revoke(Some(beta.id), ws_key.id)
        .await
        .unwrap()
        .is_none());
    assert!(s.api_key_revoke(None, ws_key.id).await.unwrap().is_none());
    assert!(matches!(
        s.api_caller(b"ws-key".to_vec(), None).await.unwrap(),
        CallerLookup::NoKey
    ));
    let listed: Vec<i64> = s
        .api_keys_all(Some(acme.id))
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, [second.id, ws_key.id]);
});

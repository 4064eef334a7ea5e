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

fn email(s: &str) -> hookline::domain::Email {
    hookline::domain::Email::parse(s).unwrap()
}

conformance!(accounts_and_members_follow_the_owner_rules, |s| {
    use hookline::domain::{MemberRefusal, Role};
    use hookline::store::types::{MemberAdded, MemberChanged};
    let ws = s
        .workspace_create(new_workspace("acme", None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.users_count().await.unwrap(), 0);
    let ann = s
        .user_create(
            email("ann@example.com"),
            "h1".into(),
            true,
            Some((ws.id, Role::Owner)),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(s
        .user_create(email("ann@example.com"), "h2".into(), false, None)
        .await
        .unwrap()
        .is_none());
    let found = s.user_by_email(" ANN@example.com ").await.unwrap().unwrap();
    assert_eq!((found.id, found.is_instance_admin), (ann, true));
    assert_eq!(
        s.user_by_id(ann).await.unwrap().unwrap().email,
        "ann@example.com"
    );
    assert_eq!(s.users_count().await.unwrap(), 1);

    let bob = s
        .user_create(email("bob@example.com"), "h".into(), false, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.member_add_existing(ws.id, bob, Role::Admin)
            .await
            .unwrap(),
        MemberAdded::Added
    );
    assert_eq!(
        s.member_add_existing(ws.id, bob, Role::Viewer)
            .await
            .unwrap(),
        MemberAdded::AlreadyMember
    );
    assert_eq!(
        s.member_role(ws.id, bob).await.unwrap(),
        Some(Role::Admin),
        "unchanged"
    );
    assert_eq!(
        s.member_add_new(ws.id, email("bob@example.com"), "h".into(), Role::Viewer)
            .await
            .unwrap(),
        MemberAdded::EmailTaken
    );
    assert_eq!(
        s.member_add_new(ws.id, email("cy@example.com"), "h".into(), Role::Viewer)
            .await
            .unwrap(),
        MemberAdded::Added
    );
    let (members, pending) = s.members_page(ws.id, 0).await.unwrap();
    let listed: Vec<(&str, Role)> = members.iter().map(|m| (m.email.as_str(), m.role)).collect();
    assert_eq!(
        listed,
        [
            ("ann@example.com", Role::Owner),
            ("bob@example.com", Role::Admin),
            ("cy@example.com", Role::Viewer)
        ]
    );
    assert!(pending.is_empty());
    let mine = s.memberships_of(bob).await.unwrap();
    assert_eq!(
        (mine.len(), mine[0].workspace.slug.as_str(), mine[0].role),
        (1, "acme", Role::Admin)
    );
    let (w, r) = s
        .workspace_with_role("acme", Some(bob))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((w.id, r), (ws.id, Some(Role::Admin)));
    assert_eq!(
        s.workspace_with_role("acme", None)
            .await
            .unwrap()
            .unwrap()
            .1,
        None
    );
    assert!(s
        .workspace_with_role("nope", Some(bob))
        .await
        .unwrap()
        .is_none());

    // The rules: the last owner stays; only owners touch owners.
    assert_eq!(
        s.member_change(ws.id, ann, Some(Role::Admin), true)
            .await
            .unwrap(),
        MemberChanged::Refused(MemberRefusal::LastOwner, "ann@example.com".into())
    );
    assert_eq!(
        s.member_change(ws.id, bob, Some(Role::Owner), false)
            .await
            .unwrap(),
        MemberChanged::Refused(MemberRefusal::OwnerOnly, "bob@example.com".into())
    );
    assert_eq!(
        s.member_change(ws.id, bob, Some(Role::Owner), true)
            .await
            .unwrap(),
        MemberChanged::Done("bob@example.com".into())
    );
    assert_eq!(
        s.member_change(ws.id, ann, None, true).await.unwrap(),
        MemberChanged::Done("ann@example.com".into()),
        "with two owners one may go"
    );
    assert_eq!(s.member_role(ws.id, ann).await.unwrap(), None);
    assert_eq!(
        s.member_change(ws.id, ann, None, true).await.unwrap(),
        MemberChanged::NotMember
    );
});

conformance!(sessions_setup_and_portal_links_work_once, |s| {
    use hookline::domain::Role;
    use hookline::store::types::{
        NewAccountSession, NewLink, NewSession, Redeemed, SetupOutcome, SetupTokenState,
    };
    let now = hookline::clock::now_ms();
    // First run: the newest setup link works once, and only while nobody has an account.
    s.setup_token_create(b"old-setup".to_vec(), 60_000)
        .await
        .unwrap();
    s.setup_token_create(b"setup".to_vec(), 60_000)
        .await
        .unwrap();
    assert_eq!(
        s.setup_state(b"old-setup".to_vec()).await.unwrap(),
        (SetupTokenState::Unknown, 0)
    );
    assert_eq!(
        s.setup_state(b"setup".to_vec()).await.unwrap(),
        (SetupTokenState::Valid, 0)
    );
    let SetupOutcome::Created(admin) = s
        .setup_first_admin(b"setup".to_vec(), email("root@example.com"), "h".into())
        .await
        .unwrap()
    else {
        panic!("the first admin was not made")
    };
    assert!(
        s.user_by_id(admin)
            .await
            .unwrap()
            .unwrap()
            .is_instance_admin
    );
    assert_eq!(
        s.setup_first_admin(b"setup".to_vec(), email("two@example.com"), "h".into())
            .await
            .unwrap(),
        SetupOutcome::Unavailable(SetupTokenState::Unknown, true)
    );

    // Account sessions: found with their user, ended by logout or a password change.
    let session = |hash: &[u8], ttl_ms: i64| NewAccountSession {
        token_hash: hash.to_vec(),
        user_id: admin,
        csrf_token: "csrf".into(),
        ttl_ms,
        ip: Some("127.0.0.1".into()),
        user_agent: None,
    };
    s.session_create(session(b"s1", 60_000)).await.unwrap();
    s.session_create(session(b"s2", 60_000)).await.unwrap();
    s.session_create(session(b"gone", -1)).await.unwrap();
    let (found, portal) = s.identify(Some(b"s1".to_vec()), None, now).await.unwrap();
    let (s1, who) = found.unwrap();
    assert_eq!((who.id, s1.csrf_token.as_str()), (admin, "csrf"));
    assert!(portal.is_none());
    assert!(s
        .identify(Some(b"gone".to_vec()), None, now)
        .await
        .unwrap()
        .0
        .is_none());
    s.password_change(admin, "new-hash".into(), Some(s1.id), now)
        .await
        .unwrap();
    assert_eq!(
        s.user_by_id(admin).await.unwrap().unwrap().password_hash,
        "new-hash"
    );
    assert!(
        s.identify(Some(b"s1".to_vec()), None, now)
            .await
            .unwrap()
            .0
            .is_some(),
        "kept"
    );
    assert!(
        s.identify(Some(b"s2".to_vec()), None, now)
            .await
            .unwrap()
            .0
            .is_none(),
        "ended"
    );
    s.session_delete(b"s1".to_vec()).await.unwrap();
    assert!(s
        .identify(Some(b"s1".to_vec()), None, now)
        .await
        .unwrap()
        .0
        .is_none());

    // Portal links: opened once, into a session that moves its idle end when used.
    let ws = s
        .workspace_create(new_workspace("acme", None))
        .await
        .unwrap()
        .unwrap();
    let link = |hash: &[u8], expires_at: i64| NewLink {
        token_hash: hash.to_vec(),
        workspace_id: ws.id,
        role: Role::Admin,
        email: Some("cust@example.com".into()),
        api_key_id: None,
        created_at: now,
        expires_at,
    };
    s.portal_link_create(link(b"link", now + 60_000))
        .await
        .unwrap();
    s.portal_link_create(link(b"late", now - 1)).await.unwrap();
    let open = |hash: &[u8]| NewSession {
        token_hash: hash.to_vec(),
        csrf_token: "pcsrf".into(),
        now,
        idle_ms: 60_000,
    };
    assert!(matches!(
        s.portal_link_redeem(b"link".to_vec(), open(b"p1")).await.unwrap(),
        Redeemed::Opened { workspace_slug } if workspace_slug == "acme"
    ));
    assert!(matches!(
        s.portal_link_redeem(b"link".to_vec(), open(b"p2"))
            .await
            .unwrap(),
        Redeemed::Used
    ));
    assert!(matches!(
        s.portal_link_redeem(b"late".to_vec(), open(b"p3"))
            .await
            .unwrap(),
        Redeemed::Expired
    ));
    assert!(matches!(
        s.portal_link_redeem(b"never".to_vec(), open(b"p4"))
            .await
            .unwrap(),
        Redeemed::Unknown
    ));
    let p = s
        .identify(None, Some(b"p1".to_vec()), now)
        .await
        .unwrap()
        .1
        .unwrap();
    assert_eq!(
        (p.workspace_id, p.role, p.email.as_deref()),
        (ws.id, Role::Admin, Some("cust@example.com"))
    );
    assert!(
        s.identify(None, Some(b"p1".to_vec()), now + 60_001)
            .await
            .unwrap()
            .1
            .is_none(),
        "idle"
    );
    s.portal_session_touch(p.id, now + 30_000, 60_000)
        .await
        .unwrap();
    assert!(
        s.identify(None, Some(b"p1".to_vec()), now + 60_001)
            .await
            .unwrap()
            .1
            .is_some(),
        "moved"
    );
});

conformance!(invitations_and_password_resets_are_single_use, |s| {
    use hookline::domain::Role;
    use hookline::store::types::{AcceptRefused, Invited, LinkState, NewInvitation};
    let now = hookline::clock::now_ms();
    let ws = s
        .workspace_create(new_workspace("acme", None))
        .await
        .unwrap()
        .unwrap();
    let owner = s
        .user_create(
            email("own@example.com"),
            "h".into(),
            false,
            Some((ws.id, Role::Owner)),
        )
        .await
        .unwrap()
        .unwrap();
    let invite = |hash: &[u8], to: &str, role: Role, actor_is_owner: bool| NewInvitation {
        token_hash: hash.to_vec(),
        workspace_id: ws.id,
        email: email(to),
        role,
        invited_by: Some(owner),
        actor_is_owner,
        now,
        ttl_ms: 60_000,
    };
    assert_eq!(
        s.invitation_create(invite(b"i0", "own@example.com", Role::Admin, true))
            .await
            .unwrap(),
        Invited::AlreadyMember
    );
    assert_eq!(
        s.invitation_create(invite(b"i1", "new@example.com", Role::Owner, true))
            .await
            .unwrap(),
        Invited::Created
    );
    assert_eq!(
        s.invitation_create(invite(b"i2", "new@example.com", Role::Viewer, false))
            .await
            .unwrap(),
        Invited::OwnerOnly,
        "an admin may not replace an owner's invitation"
    );
    assert_eq!(
        s.invitation_create(invite(b"i3", "new@example.com", Role::Admin, true))
            .await
            .unwrap(),
        Invited::Created
    );
    assert_eq!(
        s.invitation_state(b"i1".to_vec(), now).await.unwrap(),
        LinkState::Revoked,
        "replaced"
    );
    let (_, pending) = s.members_page(ws.id, now).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        s.invitation_pending(ws.id, pending[0].id, now)
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Admin
    );
    match s.invitation_lookup(b"i3".to_vec(), now).await.unwrap() {
        LinkState::Valid((inv, has_account)) => {
            assert_eq!(
                (inv.email.as_str(), inv.workspace_slug.as_str(), has_account),
                ("new@example.com", "acme", false)
            )
        }
        other => panic!("{other:?}"),
    }
    let (uid, inv) = s
        .invitation_accept_new(b"i3".to_vec(), email("new@example.com"), "h".into(), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (inv.role, s.member_role(ws.id, uid).await.unwrap()),
        (Role::Admin, Some(Role::Admin))
    );
    assert_eq!(
        s.invitation_accept_existing(b"i3".to_vec(), uid, now)
            .await
            .unwrap(),
        Err(AcceptRefused::Gone)
    );
    assert_eq!(
        s.invitation_state(b"i3".to_vec(), now).await.unwrap(),
        LinkState::Used
    );

    // An invitation of an address that has an account meanwhile.
    s.invitation_create(invite(b"i4", "late@example.com", Role::Viewer, true))
        .await
        .unwrap();
    let late = s
        .user_create(email("late@example.com"), "h".into(), false, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.invitation_accept_new(b"i4".to_vec(), email("late@example.com"), "h".into(), now)
            .await
            .unwrap(),
        Err(AcceptRefused::AccountExists)
    );
    assert!(
        matches!(
            s.invitation_state(b"i4".to_vec(), now).await.unwrap(),
            LinkState::Valid(_)
        ),
        "rolled back"
    );
    assert_eq!(
        s.invitation_accept_existing(b"i4".to_vec(), late, now)
            .await
            .unwrap()
            .unwrap()
            .email,
        "late@example.com"
    );
    assert_eq!(
        s.member_role(ws.id, late).await.unwrap(),
        Some(Role::Viewer)
    );
    // Withdrawn and expired links.
    s.invitation_create(invite(b"i5", "w@example.com", Role::Viewer, true))
        .await
        .unwrap();
    let (_, pending) = s.members_page(ws.id, now).await.unwrap();
    assert!(s
        .invitation_revoke(ws.id, pending[0].id, now)
        .await
        .unwrap());
    assert!(!s
        .invitation_revoke(ws.id, pending[0].id, now)
        .await
        .unwrap());
    assert_eq!(
        s.invitation_state(b"i5".to_vec(), now).await.unwrap(),
        LinkState::Revoked
    );
    s.invitation_create(invite(b"i6", "x@example.com", Role::Viewer, true))
        .await
        .unwrap();
    assert_eq!(
        s.invitation_state(b"i6".to_vec(), now + 60_001)
            .await
            .unwrap(),
        LinkState::Expired
    );
    assert_eq!(
        s.invitation_state(b"nope".to_vec(), now).await.unwrap(),
        LinkState::Unknown
    );

    // Password resets: the newest use spends every other link, and ends every session.
    s.password_reset_create(b"r1".to_vec(), owner, now, 60_000)
        .await
        .unwrap();
    s.password_reset_create(b"r2".to_vec(), owner, now, 60_000)
        .await
        .unwrap();
    assert_eq!(
        s.password_reset_state(b"r1".to_vec(), now).await.unwrap(),
        LinkState::Valid("own@example.com".into())
    );
    assert_eq!(
        s.password_reset_state(b"r1".to_vec(), now + 60_001)
            .await
            .unwrap(),
        LinkState::Expired
    );
    assert_eq!(
        s.password_reset_apply(b"r1".to_vec(), "reset".into(), now)
            .await
            .unwrap(),
        Some(owner)
    );
    assert_eq!(
        s.user_by_id(owner).await.unwrap().unwrap().password_hash,
        "reset"
    );
    assert_eq!(
        s.password_reset_apply(b"r1".to_vec(), "again".into(), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.password_reset_apply(b"r2".to_vec(), "again".into(), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.password_reset_state(b"r2".to_vec(), now).await.unwrap(),
        LinkState::Used
    );
    assert_eq!(
        s.password_reset_state(b"r9".to_vec(), now).await.unwrap(),
        LinkState::Unknown
    );
});

conformance!(
    racing_changes_cannot_both_take_the_last_owner_or_a_link,
    |s| {
        use hookline::domain::{MemberRefusal, Role};
        use hookline::store::types::{MemberChanged, NewLink, NewSession, Redeemed};
        // Two owners demote each other at the same moment, five times over: one of them stays.
        for round in 0..5 {
            let ws = s
                .workspace_create(new_workspace(&format!("race{round}"), None))
                .await
                .unwrap()
                .unwrap();
            let mk = |who: &str| email(&format!("{who}{round}@example.com"));
            let a = s
                .user_create(mk("a"), "h".into(), false, Some((ws.id, Role::Owner)))
                .await
                .unwrap()
                .unwrap();
            let b = s
                .user_create(mk("b"), "h".into(), false, Some((ws.id, Role::Owner)))
                .await
                .unwrap()
                .unwrap();
            let (x, y) = tokio::join!(
                s.member_change(ws.id, a, Some(Role::Viewer), true),
                s.member_change(ws.id, b, None, true)
            );
            let outcomes = [x.unwrap(), y.unwrap()];
            let done = outcomes
                .iter()
                .filter(|o| matches!(o, MemberChanged::Done(_)))
                .count();
            let refused = outcomes
                .iter()
                .filter(|o| matches!(o, MemberChanged::Refused(MemberRefusal::LastOwner, _)))
                .count();
            assert_eq!((done, refused), (1, 1), "round {round}: {outcomes:?}");
            let owners = s
                .members_page(ws.id, 0)
                .await
                .unwrap()
                .0
                .iter()
                .filter(|m| m.role == Role::Owner)
                .count();
            assert_eq!(owners, 1, "round {round}");
        }
        let ws = s.workspace_by_slug("race0").await.unwrap().unwrap();

        // Ten requests open one portal link at once: one session.
        let now = hookline::clock::now_ms();
        s.portal_link_create(NewLink {
            token_hash: b"race".to_vec(),
            workspace_id: ws.id,
            role: Role::Viewer,
            email: None,
            api_key_id: None,
            created_at: now,
            expires_at: now + 60_000,
        })
        .await
        .unwrap();
        let opens = (0..10).map(|i| {
            s.portal_link_redeem(
                b"race".to_vec(),
                NewSession {
                    token_hash: format!("session-{i}").into_bytes(),
                    csrf_token: "c".into(),
                    now,
                    idle_ms: 60_000,
                },
            )
        });
        let outcomes = futures_util::future::join_all(opens).await;
        let opened = outcomes
            .iter()
            .filter(|o| matches!(o.as_ref().unwrap(), Redeemed::Opened { .. }))
            .count();
        assert_eq!(opened, 1, "{outcomes:?}");
    }
);

fn settings(url: &str, events: &[&str]) -> hookline::domain::WebhookSettings {
    use hookline::domain::{EventFilter, WebhookSettings, WebhookUrl};
    WebhookSettings {
        name: "orders".into(),
        description: "to the ERP".into(),
        url: WebhookUrl::stored(url.into()),
        events: EventFilter::stored(events.iter().map(|e| e.to_string()).collect()),
        is_active: true,
        headers: [("X-Team".to_string(), "erp".to_string())].into(),
        retry_schedule: vec![5, 300, 3600],
        timeout_seconds: 15,
        notification_email: Some(hookline::domain::Email::stored("ops@example.com".into())),
    }
}

conformance!(webhooks_keep_their_settings_and_the_plan_caps_them, |s| {
    use hookline::domain::PlanRefusal;
    let ws = s
        .workspace_create(new_workspace("acme", Some(2)))
        .await
        .unwrap()
        .unwrap();
    let other = s
        .workspace_create(new_workspace("beta", None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.webhook_plan(ws.id).await.unwrap(), None);
    let a = s
        .webhook_create(
            ws.id,
            settings("https://a.example.com/h", &["order.paid"]),
            b"sealed-a".to_vec(),
            "ann".into(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            a.url.as_str(),
            a.events.clone(),
            a.retry_schedule.clone(),
            a.timeout_seconds
        ),
        (
            "https://a.example.com/h",
            vec!["order.paid".to_string()],
            vec![5, 300, 3600],
            15
        )
    );
    assert_eq!(a.headers.get("X-Team").map(String::as_str), Some("erp"));
    assert_eq!(
        (a.secret_enc.as_slice(), a.changed_by.as_deref()),
        (b"sealed-a".as_slice(), Some("ann"))
    );
    assert_eq!(a.notification_email.as_deref(), Some("ops@example.com"));
    assert!(a.is_active && a.previous_secret_enc.is_none());
    // Two creations at once for the plan's last place: one of them gets it.
    let (x, y) = tokio::join!(
        s.webhook_create(
            ws.id,
            settings("https://b.example.com", &["*"]),
            b"b".to_vec(),
            "ann".into()
        ),
        s.webhook_create(
            ws.id,
            settings("https://c.example.com", &["*"]),
            b"c".to_vec(),
            "bob".into()
        )
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(
        x.is_ok() != y.is_ok(),
        "exactly one is made: {:?} {:?}",
        x.is_ok(),
        y.is_ok()
    );
    assert_eq!(x.err().or(y.err()), Some(PlanRefusal::Limit(2)));
    assert_eq!(s.webhooks_page(ws.id, 0, 10).await.unwrap().len(), 2);
    assert_eq!(s.webhooks_page(ws.id, a.id, 10).await.unwrap().len(), 1);
    assert!(
        s.webhook_get(other.id, a.id).await.unwrap().is_none(),
        "another workspace's"
    );

    // A change replaces the settings; switching off and on clears why it was off.
    let mut off = settings("https://a2.example.com/h", &["*"]);
    off.is_active = false;
    off.headers.clear();
    let saved = s
        .webhook_save(ws.id, a.id, off, "bob".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (saved.url.as_str(), saved.events.clone(), saved.is_active),
        ("https://a2.example.com/h", vec!["*".to_string()], false)
    );
    assert!(saved.headers.is_empty());
    assert_eq!(saved.changed_by.as_deref(), Some("bob"));
    assert_eq!(s.webhooks_inactive_count().await.unwrap(), 1);
    let on = s
        .webhook_save(
            ws.id,
            a.id,
            settings("https://a2.example.com/h", &["*"]),
            "bob".into(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(on.is_active && on.disabled_reason.is_none());
    assert!(s
        .webhook_save(
            other.id,
            a.id,
            settings("https://x.example.com", &["*"]),
            "eve".into()
        )
        .await
        .unwrap()
        .is_none());

    // Rotation keeps the previous secret beside the new one until it expires.
    assert!(s
        .webhook_rotate(ws.id, a.id, b"sealed-2".to_vec(), 99, "cy".into())
        .await
        .unwrap());
    let rotated = s.webhook_get(ws.id, a.id).await.unwrap().unwrap();
    assert_eq!(rotated.secret_enc, b"sealed-2");
    assert_eq!(
        rotated.previous_secret_enc.as_deref(),
        Some(b"sealed-a".as_slice())
    );
    assert_eq!(
        (
            rotated.previous_secret_expires_at,
            rotated.changed_by.as_deref()
        ),
        (Some(99), Some("cy"))
    );
    assert!(!s
        .webhook_rotate(other.id, a.id, b"x".to_vec(), 99, "eve".into())
        .await
        .unwrap());

    let (rows, last) = s.webhooks_with_last_delivery(ws.id, 0, 10).await.unwrap();
    assert_eq!((rows.len(), last.len()), (2, 0), "no deliveries yet");
    assert!(!s.webhook_delete(other.id, a.id).await.unwrap());
    assert!(s.webhook_delete(ws.id, a.id).await.unwrap());
    assert!(s.webhook_get(ws.id, a.id).await.unwrap().is_none());

    // Many creations at once for one place, a few times over: one each time.
    for round in 0..3 {
        let w = s
            .workspace_create(new_workspace(&format!("cap{round}"), Some(1)))
            .await
            .unwrap()
            .unwrap();
        let made = futures_util::future::join_all((0..6).map(|i| {
            s.webhook_create(
                w.id,
                settings(&format!("https://{i}.example.com"), &["*"]),
                vec![i],
                "x".into(),
            )
        }))
        .await;
        let ok = made.iter().filter(|m| matches!(m, Ok(Ok(_)))).count();
        assert_eq!(ok, 1, "round {round}");
        assert_eq!(
            s.webhooks_page(w.id, 0, 10).await.unwrap().len(),
            1,
            "round {round}"
        );
    }

    // A plan without webhooks refuses every change.
    s.workspace_update(
        ws.id,
        WorkspaceChange {
            webhooks_enabled: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.webhook_plan(ws.id).await.unwrap(),
        Some(PlanRefusal::Disabled)
    );
    assert_eq!(
        s.webhook_create(
            ws.id,
            settings("https://d.example.com", &["*"]),
            b"d".to_vec(),
            "ann".into()
        )
        .await
        .unwrap()
        .err(),
        Some(PlanRefusal::Disabled)
    );
});

conformance!(
    publishing_stores_events_with_their_deliveries_and_history_reads_them,
    |s| {
        use hookline::domain::{DeliveryFilter, DeliveryStatus};
        use hookline::store::types::{Draft, Idempotency, Published};
        let ws = s
            .workspace_create(new_workspace("acme", None))
            .await
            .unwrap()
            .unwrap();
        let other = s
            .workspace_create(new_workspace("beta", None))
            .await
            .unwrap()
            .unwrap();
        for t in ["order.paid", "user.created"] {
            s.event_type_create(NewEventType {
                name: EventTypeName::parse(t).unwrap(),
                description: String::new(),
                example: None,
            })
            .await
            .unwrap();
        }
        let hook = |url: &str, events: &[&str]| settings(url, events);
        let a = s
            .webhook_create(
                ws.id,
                hook("https://a.example.com", &["order.paid"]),
                b"a".to_vec(),
                "t".into(),
            )
            .await
            .unwrap()
            .unwrap();
        let b = s
            .webhook_create(
                ws.id,
                hook("https://b.example.com", &["*"]),
                b"b".to_vec(),
                "t".into(),
            )
            .await
            .unwrap()
            .unwrap();
        let mut off = hook("https://c.example.com", &["*"]);
        off.is_active = false;
        s.webhook_create(ws.id, off, b"c".to_vec(), "t".into())
            .await
            .unwrap()
            .unwrap();
        let theirs = s
            .webhook_create(
                other.id,
                hook("https://d.example.com", &["*"]),
                b"d".to_vec(),
                "t".into(),
            )
            .await
            .unwrap()
            .unwrap();

        let draft = |t: &str, data: &str| {
            Draft::new(&EventTypeName::parse(t).unwrap(), data, "type".into())
        };
        let key = |hash: &[u8]| Idempotency {
            key: "k-1".into(),
            route: "events",
            request_hash: hash.to_vec(),
        };
        let drafts = vec![
            draft("order.paid", r#"{"id": 1}"#),
            draft("user.created", r#"{"id": 2}"#),
            draft("order.paid", r#"{"id": 3}"#),
        ];
        let Published::Fresh(stored, body) = s
            .publish(ws.id, drafts, Some(key(b"h1")), |st| {
                format!("ok:{}", st.len())
            })
            .await
            .unwrap()
        else {
            panic!("not stored")
        };
        assert_eq!(body, "ok:3");
        assert_eq!(
            stored.iter().map(|e| e.deliveries).collect::<Vec<_>>(),
            [2, 1, 2]
        );
        // The same key: the first answer again, and nothing more stored; another body: refused.
        assert!(matches!(
            s.publish(ws.id, vec![draft("order.paid", "{}")], Some(key(b"h1")), |_| "x".into()).await.unwrap(),
            Published::Replay { status: 202, body } if body == "ok:3"
        ));
        assert!(matches!(
            s.publish(
                ws.id,
                vec![draft("order.paid", "{}")],
                Some(key(b"h2")),
                |_| "x".into()
            )
            .await
            .unwrap(),
            Published::KeyMismatch
        ));
        // The same new key published twice at once (two nodes): one event set, one replay.
        for round in 0..5 {
            let k = || Idempotency {
                key: format!("race-{round}"),
                route: "events",
                request_hash: b"same".to_vec(),
            };
            let (x, y) = tokio::join!(
                s.publish(ws.id, vec![draft("user.created", "{}")], Some(k()), |_| {
                    "first".into()
                }),
                s.publish(ws.id, vec![draft("user.created", "{}")], Some(k()), |_| {
                    "first".into()
                })
            );
            let fresh = [x.unwrap(), y.unwrap()]
                .iter()
                .filter(|p| matches!(p, Published::Fresh(..)))
                .count();
            assert_eq!(fresh, 1, "round {round}");
        }
        // An undefined type stores nothing of the whole batch.
        let bad = Draft::new(
            &EventTypeName::parse("user.deleted").unwrap(),
            "{}",
            "events[1].type".into(),
        );
        assert!(matches!(
            s.publish(ws.id, vec![draft("order.paid", "{}"), bad], None, |_| "x".into()).await.unwrap(),
            Published::UnknownType { field, name } if field == "events[1].type" && name == "user.deleted"
        ));
        let all = s
            .deliveries_page(ws.id, None, DeliveryFilter::default(), i64::MAX, 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            all.len(),
            10,
            "two for a, three and five raced ones for b, none for the switched-off one"
        );
        assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        assert!(all
            .iter()
            .all(|d| d.status == DeliveryStatus::Pending && d.attempt_count == 0));
        assert!(all.iter().all(|d| d.next_attempt_at.is_some()), "due");

        // A webhook's list; another workspace's webhook finds nothing.
        let of_a = s
            .deliveries_page(ws.id, Some(a.id), DeliveryFilter::default(), i64::MAX, 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(of_a.len(), 2);
        assert!(of_a
            .iter()
            .all(|d| d.event_type == "order.paid" && d.webhook_id == a.id));
        assert!(s
            .deliveries_page(
                ws.id,
                Some(theirs.id),
                DeliveryFilter::default(),
                i64::MAX,
                100
            )
            .await
            .unwrap()
            .is_none());
        let page = s
            .deliveries_page(ws.id, Some(b.id), DeliveryFilter::default(), i64::MAX, 2)
            .await
            .unwrap()
            .unwrap();
        let rest = s
            .deliveries_page(ws.id, Some(b.id), DeliveryFilter::default(), page[1].id, 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((page.len(), rest.len()), (2, 2), "paged by id");

        // Searches: by type (an index walk), by status across webhooks (checked on rows), by event.
        let by_type = DeliveryFilter {
            event_type: Some(EventTypeName::parse("user.created").unwrap()),
            ..Default::default()
        };
        let found = s
            .deliveries_search(ws.id, None, by_type, i64::MAX, 50)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.rows.len(), found.resume_before), (6, None));
        let by_status = DeliveryFilter {
            status: Some(DeliveryStatus::Pending),
            ..Default::default()
        };
        assert_eq!(
            s.deliveries_search(ws.id, None, by_status, i64::MAX, 50)
                .await
                .unwrap()
                .unwrap()
                .rows
                .len(),
            10
        );
        let by_event = DeliveryFilter {
            event_id: Some(stored[0].public_id.clone()),
            ..Default::default()
        };
        assert_eq!(
            s.deliveries_search(ws.id, None, by_event, i64::MAX, 50)
                .await
                .unwrap()
                .unwrap()
                .rows
                .len(),
            2
        );
        let unknown_event = DeliveryFilter {
            event_id: Some("evt_nothing".into()),
            ..Default::default()
        };
        assert!(s
            .deliveries_search(ws.id, None, unknown_event, i64::MAX, 50)
            .await
            .unwrap()
            .unwrap()
            .rows
            .is_empty());
        let since_later = DeliveryFilter {
            since: Some(hookline::clock::now_ms() + 60_000),
            ..Default::default()
        };
        assert!(s
            .deliveries_search(ws.id, None, since_later, i64::MAX, 50)
            .await
            .unwrap()
            .unwrap()
            .rows
            .is_empty());

        // One delivery, its exact payload, and its event with every delivery.
        let d = &of_a[1];
        assert_eq!(s.delivery_get(ws.id, d.id).await.unwrap().unwrap().id, d.id);
        assert!(s.delivery_get(other.id, d.id).await.unwrap().is_none());
        let detail = s
            .delivery_detail(ws.id, d.id, Some(10))
            .await
            .unwrap()
            .unwrap();
        assert!(
            detail.payload.contains(r#""data":{"id": 1}"#),
            "{}",
            detail.payload
        );
        assert_eq!((detail.attempts.len(), detail.attempts_total), (0, 0));
        assert!(d
            .preview
            .starts_with(&detail.payload[..detail.payload.len().min(20)]));
        let (public_id, payload) = s.delivery_payload(ws.id, d.id).await.unwrap().unwrap();
        assert_eq!(
            (public_id.as_str(), payload.as_str()),
            (stored[0].public_id.as_str(), detail.payload.as_str())
        );
        assert!(s.attempt_response(ws.id, d.id, 1).await.unwrap().is_none());
        let (event, deliveries) = s
            .event_with_deliveries(ws.id, stored[0].public_id.clone())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (event.event_type.as_str(), deliveries.len()),
            ("order.paid", 2)
        );
        assert!(s
            .event_with_deliveries(other.id, stored[0].public_id.clone())
            .await
            .unwrap()
            .is_none());

        let (_, last) = s.webhooks_with_last_delivery(ws.id, 0, 10).await.unwrap();
        assert_eq!(last.get(&a.id).map(|l| l.0.as_str()), Some("pending"));
        assert_eq!(last.len(), 2);
        assert!(s
            .webhook_get(ws.id, a.id)
            .await
            .unwrap()
            .unwrap()
            .last_triggered_at
            .is_some());
        assert!(s
            .webhook_hours(ws.id, a.id, 0, i64::MAX)
            .await
            .unwrap()
            .unwrap()
            .is_empty());
        assert!(s
            .webhook_hours(ws.id, theirs.id, 0, i64::MAX)
            .await
            .unwrap()
            .is_none());
    }
);

conformance!(
    a_deleted_workspace_vanishes_at_once_and_its_history_in_batches,
    |s| {
        use hookline::domain::Role;
        use hookline::store::types::{CallerLookup, Draft, Published};
        let ws = s
            .workspace_create(new_workspace("doomed", None))
            .await
            .unwrap()
            .unwrap();
        let keep = s
            .workspace_create(new_workspace("kept", None))
            .await
            .unwrap()
            .unwrap();
        s.event_type_create(NewEventType {
            name: EventTypeName::parse("order.paid").unwrap(),
            description: String::new(),
            example: None,
        })
        .await
        .unwrap();
        let member = s
            .user_create(
                email("m@example.com"),
                "h".into(),
                false,
                Some((ws.id, Role::Admin)),
            )
            .await
            .unwrap()
            .unwrap();
        s.api_key_create(NewApiKey {
            workspace_id: Some(ws.id),
            name: "k".into(),
            prefix: "hl_x".into(),
            hash: b"doomed-key".to_vec(),
            scopes: Scopes::parse("events").unwrap(),
            created_by: None,
        })
        .await
        .unwrap();
        let hook = s
            .webhook_create(
                ws.id,
                settings("https://a.example.com", &["*"]),
                b"a".to_vec(),
                "t".into(),
            )
            .await
            .unwrap()
            .unwrap();
        let kept_hook = s
            .webhook_create(
                keep.id,
                settings("https://k.example.com", &["*"]),
                b"k".to_vec(),
                "t".into(),
            )
            .await
            .unwrap()
            .unwrap();
        let draft = || {
            Draft::new(
                &EventTypeName::parse("order.paid").unwrap(),
                "{}",
                "type".into(),
            )
        };
        for target in [ws.id, keep.id] {
            let Published::Fresh(..) = s
                .publish(target, (0..7).map(|_| draft()).collect(), None, |_| {
                    String::new()
                })
                .await
                .unwrap()
            else {
                panic!()
            };
        }

        assert!(s.workspace_mark_deleted(ws.id).await.unwrap());
        assert!(!s.workspace_mark_deleted(ws.id).await.unwrap(), "once");
        assert!(s.workspace_by_slug("doomed").await.unwrap().is_none());
        assert!(s.workspace_by_id(ws.id).await.unwrap().is_none());
        assert_eq!(s.member_role(ws.id, member).await.unwrap(), None);
        assert!(matches!(
            s.api_caller(b"doomed-key".to_vec(), None).await.unwrap(),
            CallerLookup::NoKey
        ));
        let stopped = s.webhook_get(ws.id, hook.id).await.unwrap().unwrap();
        assert_eq!(
            (stopped.is_active, stopped.disabled_reason.as_deref()),
            (false, Some("workspace deleted"))
        );
        assert_eq!(s.workspaces_deleted().await.unwrap(), [ws.id]);
        assert!(
            s.workspace_create(new_workspace("doomed", None))
                .await
                .unwrap()
                .is_some(),
            "the slug is free again"
        );

        // Its history goes in small batches; the other workspace keeps everything.
        let mut batches = 0;
        while !s.workspace_purge_batch(ws.id, 3).await.unwrap() {
            batches += 1;
            assert!(batches < 50, "the purge ends");
        }
        assert!(
            batches >= 5,
            "7 deliveries, 7 events and a webhook in batches of 3: {batches}"
        );
        assert!(s.workspaces_deleted().await.unwrap().is_empty());
        assert!(s.webhook_get(ws.id, hook.id).await.unwrap().is_none());
        assert!(
            s.workspace_purge_batch(keep.id, 3).await.unwrap(),
            "only a deleted workspace is purged"
        );
        let kept = s
            .deliveries_page(
                keep.id,
                Some(kept_hook.id),
                hookline::domain::DeliveryFilter::default(),
                i64::MAX,
                50,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.len(), 7);

        // Retention keeps events whose deliveries still wait, and deletes finished ones.
        let later = hookline::clock::now_ms() + 1_000;
        assert_eq!(
            s.purge_finished_events(later, 100).await.unwrap(),
            0,
            "deliveries still wait"
        );
        s.webhook_save(
            keep.id,
            kept_hook.id,
            settings("https://k.example.com", &["order.paid"]),
            "t".into(),
        )
        .await
        .unwrap();
        s.webhook_delete(keep.id, kept_hook.id).await.unwrap();
        assert_eq!(
            s.purge_finished_events(later, 5).await.unwrap(),
            5,
            "a batch"
        );
        assert_eq!(s.purge_finished_events(later, 5).await.unwrap(), 2);
        s.expire_tokens(later, later).await.unwrap();
    }
);

conformance!(bulk_jobs_count_then_work_through_their_batches_once, |s| {
    use hookline::store::types::{Draft, JobKind, JobParams, JobRefused, JobState};
    let ws = s
        .workspace_create(new_workspace("acme", None))
        .await
        .unwrap()
        .unwrap();
    let other = s
        .workspace_create(new_workspace("beta", None))
        .await
        .unwrap()
        .unwrap();
    for t in ["order.paid", "user.created"] {
        s.event_type_create(NewEventType {
            name: EventTypeName::parse(t).unwrap(),
            description: String::new(),
            example: None,
        })
        .await
        .unwrap();
    }
    let a = s
        .webhook_create(
            ws.id,
            settings("https://a.example.com", &["order.paid"]),
            b"a".to_vec(),
            "t".into(),
        )
        .await
        .unwrap()
        .unwrap();
    let draft = |t: &str| Draft::new(&EventTypeName::parse(t).unwrap(), "{}", "type".into());
    let batch: Vec<Draft> = (0..5)
        .map(|_| draft("order.paid"))
        .chain((0..3).map(|_| draft("user.created")))
        .collect();
    s.publish(ws.id, batch, None, |_| String::new())
        .await
        .unwrap();
    let now = hookline::clock::now_ms();
    let window = |status: Option<&str>, types: &[&str]| JobParams {
        status: status.map(str::to_string),
        since: 0,
        until: now + 60_000,
        event_types: types.iter().map(|t| t.to_string()).collect(),
    };
    assert_eq!(
        s.job_preview(
            ws.id,
            a.id,
            JobKind::BulkRetry,
            window(Some("pending"), &[])
        )
        .await
        .unwrap(),
        Some(5)
    );
    assert_eq!(
        s.job_preview(ws.id, a.id, JobKind::BulkRetry, window(Some("failed"), &[]))
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        s.job_preview(ws.id, a.id, JobKind::Replay, window(None, &[]))
            .await
            .unwrap(),
        Some(5),
        "only what it takes"
    );
    assert_eq!(
        s.job_preview(
            ws.id,
            a.id,
            JobKind::Replay,
            window(None, &["user.created"])
        )
        .await
        .unwrap(),
        Some(0)
    );
    assert_eq!(
        s.job_preview(other.id, a.id, JobKind::Replay, window(None, &[]))
            .await
            .unwrap(),
        None
    );

    // A replay: five new deliveries, two per batch, made once however often a batch runs.
    let job = s
        .job_create(
            ws.id,
            a.id,
            JobKind::Replay,
            window(None, &[]),
            "ann".into(),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (job.total, job.done, job.state, job.created_by.as_deref()),
        (5, 0, JobState::Running, Some("ann"))
    );
    assert_eq!(s.jobs_running().await.unwrap().len(), 1);
    let mut batches = 0;
    while s.job_get(ws.id, job.id).await.unwrap().unwrap().state == JobState::Running {
        s.job_run_batch(job.id, 2).await.unwrap();
        batches += 1;
        assert!(batches < 10);
    }
    assert_eq!(batches, 5, "8 events, 2 a batch: the fifth finds none");
    let done = s.job_get(ws.id, job.id).await.unwrap().unwrap();
    assert_eq!((done.state, done.done), (JobState::Done, 5));
    s.job_run_batch(job.id, 2).await.unwrap();
    let of_a = s
        .deliveries_page(
            ws.id,
            Some(a.id),
            hookline::domain::DeliveryFilter::default(),
            i64::MAX,
            100,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(of_a.len(), 10);
    assert_eq!(of_a.iter().filter(|d| d.job_id == Some(job.id)).count(), 5);

    // A bulk retry over the ten, in batches of four.
    let retry = s
        .job_create(
            ws.id,
            a.id,
            JobKind::BulkRetry,
            window(Some("pending"), &[]),
            "bob".into(),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retry.total, 10);
    for _ in 0..3 {
        s.job_run_batch(retry.id, 4).await.unwrap();
    }
    let retried = s.job_get(ws.id, retry.id).await.unwrap().unwrap();
    assert_eq!((retried.state, retried.done), (JobState::Done, 10));
    assert!(s.jobs_running().await.unwrap().is_empty());

    // Nothing to do: done at once. Refusals. Cancel and fail.
    let empty = s
        .job_create(
            ws.id,
            a.id,
            JobKind::Replay,
            window(None, &["user.created"]),
            "x".into(),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((empty.state, empty.total), (JobState::Done, 0));
    assert_eq!(
        s.job_create(
            other.id,
            a.id,
            JobKind::Replay,
            window(None, &[]),
            "x".into(),
            now
        )
        .await
        .unwrap()
        .err(),
        Some(JobRefused::NoWebhook)
    );
    let cancelled = s
        .job_create(
            ws.id,
            a.id,
            JobKind::Replay,
            window(None, &[]),
            "x".into(),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.job_cancel(ws.id, cancelled.id, now)
            .await
            .unwrap()
            .unwrap()
            .state,
        JobState::Cancelled
    );
    s.job_run_batch(cancelled.id, 100).await.unwrap();
    assert_eq!(
        s.job_get(ws.id, cancelled.id).await.unwrap().unwrap().done,
        0,
        "a cancelled job does nothing"
    );
    assert!(s.job_get(other.id, cancelled.id).await.unwrap().is_none());
    let failing = s
        .job_create(
            ws.id,
            a.id,
            JobKind::Replay,
            window(None, &[]),
            "x".into(),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    s.job_fail(failing.id, "stopped".into(), now).await.unwrap();
    let failed = s.job_get(ws.id, failing.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.error.as_deref()),
        (JobState::Failed, Some("stopped"))
    );
    let orphan = s
        .job_create(
            ws.id,
            a.id,
            JobKind::Replay,
            window(None, &[]),
            "x".into(),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    let mut off = settings("https://a.example.com", &["order.paid"]);
    off.is_active = false;
    s.webhook_save(ws.id, a.id, off, "t".into()).await.unwrap();
    assert_eq!(
        s.job_create(
            ws.id,
            a.id,
            JobKind::Replay,
            window(None, &[]),
            "x".into(),
            now
        )
        .await
        .unwrap()
        .err(),
        Some(JobRefused::WebhookOff)
    );
    s.webhook_delete(ws.id, a.id).await.unwrap();
    s.job_run_batch(orphan.id, 100).await.unwrap();
});

conformance!(send_test_retry_and_the_queue_gauges, |s| {
    use hookline::store::types::{Draft, TestEvent};
    let ws = s
        .workspace_create(new_workspace("acme", None))
        .await
        .unwrap()
        .unwrap();
    let other = s
        .workspace_create(new_workspace("beta", None))
        .await
        .unwrap()
        .unwrap();
    s.event_type_create(NewEventType {
        name: EventTypeName::parse("order.paid").unwrap(),
        description: String::new(),
        example: None,
    })
    .await
    .unwrap();
    let hook = s
        .webhook_create(
            ws.id,
            settings("https://a.example.com", &["*"]),
            b"a".to_vec(),
            "t".into(),
        )
        .await
        .unwrap()
        .unwrap();
    let draft = || {
        Draft::new(
            &EventTypeName::parse("order.paid").unwrap(),
            "{}",
            "type".into(),
        )
    };
    s.publish(ws.id, vec![draft(), draft(), draft()], None, |_| {
        String::new()
    })
    .await
    .unwrap();
    let now = hookline::clock::now_ms();
    let (g, inactive) = s.queue_figures(now + 1_000).await.unwrap();
    assert_eq!((g.due, g.scheduled, g.in_flight, inactive), (3, 0, 0, 0));
    let (g, _) = s.queue_figures(now - 60_000).await.unwrap();
    assert_eq!((g.due, g.scheduled, g.oldest_due_seconds), (0, 3, 0));
    let (g, _) = s.queue_figures(now + 10_000).await.unwrap();
    assert!(g.oldest_due_seconds >= 9, "{g:?}");

    // Send Test: a delivery of its own, not due (the engine attempts it at once), read back
    // with its exact body for that attempt.
    let body = r#"{"id":"evt_t","type":"webhook.test","data":{}}"#;
    let (event_id, delivery_id) = s
        .enqueue_test(
            ws.id,
            hook.id,
            TestEvent {
                public_id: "evt_t".into(),
                event_type: "webhook.test".into(),
                body: body.into(),
                created_at: now,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        s.queue_figures(now + 1_000).await.unwrap().0.due,
        3,
        "not queued"
    );
    let (row, claimed) = s
        .claim_test(delivery_id, hook.id, event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.id, claimed.delivery_id, claimed.attempt_count),
        (hook.id, delivery_id, 0)
    );
    assert_eq!(
        (claimed.body.as_ref(), claimed.event_type.as_str()),
        (body.as_bytes(), "webhook.test")
    );
    assert!(s
        .claim_test(delivery_id, hook.id, event_id + 1000)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .claim_test(delivery_id, hook.id + 1000, event_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        s.webhook_get(ws.id, hook.id)
            .await
            .unwrap()
            .unwrap()
            .last_triggered_at,
        Some(now)
    );

    // Retry: due now, whatever it was; another workspace's id finds nothing.
    let retried = s.retry_now(ws.id, delivery_id).await.unwrap().unwrap();
    assert!(retried.next_attempt_at.is_some());
    assert_eq!(
        s.queue_figures(hookline::clock::now_ms() + 1_000)
            .await
            .unwrap()
            .0
            .due,
        4
    );
    assert!(s.retry_now(other.id, delivery_id).await.unwrap().is_none());
});

/// What an attempt came to, as the engine hands it to `record`.
fn attempt_result(
    claimed: &hookline::store::types::Claimed,
    status: Option<u16>,
    next_attempt_at: Option<i64>,
) -> hookline::store::types::AttemptResult {
    let success = status.is_some_and(|s| (200..300).contains(&s));
    hookline::store::types::AttemptResult {
        delivery_id: claimed.delivery_id,
        webhook_id: claimed.webhook_id,
        attempt_number: claimed.attempt_count + 1,
        started_at: hookline::clock::now_ms(),
        request_headers_json: r#"{"webhook-id":"msg"}"#.into(),
        response_headers_json: status.map(|_| r#"{"x-r":"1"}"#.into()),
        error: match status {
            None => Some("connection refused".into()),
            Some(s) if !success => Some(format!("HTTP {s}")),
            _ => None,
        },
        status,
        duration_ms: 7,
        response_body: b"answer".to_vec(),
        success,
        next_attempt_at: if success { None } else { next_attempt_at },
        final_attempt: false,
    }
}

fn record_rules() -> std::sync::Arc<hookline::store::types::RecordRules> {
    std::sync::Arc::new(hookline::store::types::RecordRules {
        auto_disable_after_ms: 5 * 24 * 3600 * 1000,
        notices: hookline::domain::notice::NoticeSettings {
            public_url: "https://hooks.example".into(),
            smtp_configured: true,
            interval_ms: 3_600_000,
        },
    })
}

conformance!(
    claims_lease_due_work_and_records_what_attempts_came_to,
    |s| {
        use hookline::domain::fair::Ledger;
        use hookline::domain::DeliveryStatus;
        use hookline::domain::IdMap;
        use hookline::store::types::{ClaimRequest, Draft};
        let ws = s
            .workspace_create(new_workspace("acme", None))
            .await
            .unwrap()
            .unwrap();
        s.event_type_create(NewEventType {
            name: EventTypeName::parse("order.paid").unwrap(),
            description: String::new(),
            example: None,
        })
        .await
        .unwrap();
        let mut hooks = Vec::new();
        for url in ["https://a.example.com", "https://b.example.com"] {
            hooks.push(
                s.webhook_create(ws.id, settings(url, &["*"]), b"a".to_vec(), "t".into())
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        let (a, b) = (hooks[0].id, hooks[1].id);
        let drafts: Vec<Draft> = (0..5)
            .map(|i| {
                Draft::new(
                    &EventTypeName::parse("order.paid").unwrap(),
                    &format!(r#"{{"n":{i}}}"#),
                    "type".into(),
                )
            })
            .collect();
        s.publish(ws.id, drafts, None, |_| String::new())
            .await
            .unwrap();
        s.queue_start(std::sync::Arc::new(tokio::sync::Notify::new()))
            .await
            .unwrap();
        // Three per webhook at most, eight in all: three of each, with their events' bodies and
        // the webhooks' rows (the caller knows neither).
        let ask = |busy: IdMap<usize>, known: IdMap<i64>| ClaimRequest {
            now: 0,
            budget: 8,
            budget_before_heavy: 8,
            room: 3,
            wider: IdMap::default(),
            in_flight_limit: 3,
            busy,
            start: 0,
            known,
            revisit: false,
            rescan: false,
        };
        let (round, ledger) = s
            .claim(ask(IdMap::default(), IdMap::default()), Ledger::default())
            .await
            .unwrap();
        let per = |jobs: &[hookline::store::types::Claimed], w: i64| {
            jobs.iter().filter(|j| j.webhook_id == w).count()
        };
        assert_eq!(
            (per(&round.jobs, a), per(&round.jobs, b)),
            (3, 3),
            "{:?}",
            round.jobs
        );
        let mut changed: Vec<i64> = round.changed.iter().map(|w| w.id).collect();
        changed.sort();
        assert_eq!(changed, vec![a, b]);
        assert!(round.inactive.is_empty());
        assert!(
            round.jobs[0].body.windows(4).any(|w| w == br#""n":"#),
            "the event's body comes with the claim"
        );
        assert!(
            round.next_due.is_some(),
            "due work left behind: look again soon"
        );
        let (g, _) = s.queue_figures(hookline::clock::now_ms()).await.unwrap();
        assert_eq!((g.in_flight, g.due), (6, 4));
        // What is held counts against the room; known versions do not come again.
        let busy: IdMap<usize> = IdMap::from_iter([(a, 3), (b, 3)]);
        let known: IdMap<i64> = round.active.iter().copied().collect();
        let (again, ledger) = s
            .claim(ask(busy.clone(), known.clone()), ledger)
            .await
            .unwrap();
        assert!(again.jobs.is_empty(), "{:?}", again.jobs);
        assert!(again.changed.is_empty());
        // A room widened for webhook a (the dispatcher's, for a webhook that sent quickly)
        // lets a alone take more; given back, it is claimable again.
        let (wide, _) = s
            .claim(
                ClaimRequest {
                    wider: IdMap::from_iter([(a, 4)]),
                    in_flight_limit: 4,
                    ..ask(busy, known)
                },
                ledger,
            )
            .await
            .unwrap();
        assert_eq!(
            wide.jobs.iter().map(|j| j.webhook_id).collect::<Vec<_>>(),
            vec![a]
        );
        s.release(vec![wide.jobs[0].delivery_id]).await.unwrap();
        // One of webhook a's goes back unattempted: claimable again.
        let first_a = round.jobs.iter().find(|j| j.webhook_id == a).unwrap();
        s.release(vec![first_a.delivery_id]).await.unwrap();
        assert_eq!(
            s.queue_figures(hookline::clock::now_ms())
                .await
                .unwrap()
                .0
                .in_flight,
            5
        );

        // Webhook b: a success, a failure with a retry left, and one that gives up.
        let jobs_b: Vec<_> = round.jobs.iter().filter(|j| j.webhook_id == b).collect();
        let later = hookline::clock::now_ms() + 60_000;
        let noticed = s
            .record(
                vec![
                    attempt_result(jobs_b[0], Some(200), None),
                    attempt_result(jobs_b[1], Some(503), Some(later)),
                    attempt_result(jobs_b[2], None, None),
                ],
                record_rules(),
            )
            .await
            .unwrap();
        assert!(noticed, "the delivery that gave up leaves a notice");
        let status =
            |d: hookline::store::types::DeliveryRow| (d.status, d.attempt_count, d.next_attempt_at);
        let ok = s
            .delivery_get(ws.id, jobs_b[0].delivery_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status(ok.clone()), (DeliveryStatus::Succeeded, 1, None));
        assert_eq!(ok.last_status_code, Some(200));
        let retrying = s
            .delivery_get(ws.id, jobs_b[1].delivery_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            status(retrying.clone()),
            (DeliveryStatus::Retrying, 1, Some(later))
        );
        assert_eq!(retrying.last_error.as_deref(), Some("HTTP 503"));
        let failed = s
            .delivery_get(ws.id, jobs_b[2].delivery_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status(failed.clone()), (DeliveryStatus::Failed, 1, None));
        assert_eq!(failed.last_error.as_deref(), Some("connection refused"));
        let detail = s
            .delivery_detail(ws.id, jobs_b[1].delivery_id, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.attempts.len(), 1);
        let at = &detail.attempts[0];
        assert_eq!(
            (at.attempt_number, at.response_status, at.duration_ms),
            (1, Some(503), Some(7))
        );
        assert_eq!(at.response_body.as_deref(), Some(&b"answer"[..]));
        assert_eq!(
            at.request_headers.get("webhook-id").map(String::as_str),
            Some("msg")
        );
        let refused = s
            .delivery_detail(ws.id, jobs_b[2].delivery_id, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            refused.attempts[0].response_body, None,
            "no answer, no body"
        );
        // The webhook's health: the failures after the success count.
        let hook_b = s.webhook_get(ws.id, b).await.unwrap().unwrap();
        assert_eq!(hook_b.failure_count, 2);
        assert!(hook_b.last_failure_at.is_some() && hook_b.last_success_at.is_some());
        assert!(hook_b.is_active);
        // Its hour: three attempts, one succeeded, all in the 5–10 ms bucket.
        let now = hookline::clock::now_ms();
        let hours = s
            .webhook_hours(ws.id, b, now - 3_600_000, now + 3_600_000)
            .await
            .unwrap()
            .unwrap();
        let total =
            hours
                .values()
                .fold(hookline::store::types::HourStats::default(), |mut t, h| {
                    t.add(h);
                    t
                });
        assert_eq!((total.attempts, total.succeeded, total.failed), (3, 1, 2));
        assert_eq!(total.latency[1], 3);
        // A second batch adds to the same hour.
        let (more, _) = s
            .claim(
                ask(IdMap::from_iter([(a, 2)]), IdMap::default()),
                Ledger::default(),
            )
            .await
            .unwrap();
        let next_b: Vec<_> = more.jobs.iter().filter(|j| j.webhook_id == b).collect();
        assert_eq!(next_b.len(), 2, "b's last two (its retry is not due)");
        s.record(
            vec![attempt_result(next_b[0], Some(204), None)],
            record_rules(),
        )
        .await
        .unwrap();
        let hours = s
            .webhook_hours(ws.id, b, now - 3_600_000, now + 3_600_000)
            .await
            .unwrap()
            .unwrap();
        let total: i64 = hours.values().map(|h| h.attempts).sum();
        let latency: i64 = hours.values().map(|h| h.latency[1]).sum();
        assert_eq!((total, latency), (4, 4));
        let hook_b = s.webhook_get(ws.id, b).await.unwrap().unwrap();
        assert_eq!(hook_b.failure_count, 0);
        // The notice waits for the notifier, once.
        let due = s.notices_due(hookline::clock::now_ms() + 1).await.unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].kind, "delivery_failed");
        assert_eq!(due[0].recipient.as_deref(), Some("ops@example.com"));
        assert!(due[0]
            .body
            .contains(&format!("/w/acme/deliveries/{}", jobs_b[2].delivery_id)));

        // Webhook a's receiver answers 410 Gone: the webhook is switched off with a notice that
        // says so, and its deliveries are not claimed any more.
        let jobs_a: Vec<_> = round
            .jobs
            .iter()
            .filter(|j| j.webhook_id == a)
            .skip(1)
            .collect();
        s.record(
            vec![attempt_result(jobs_a[0], Some(410), None)],
            record_rules(),
        )
        .await
        .unwrap();
        let hook_a = s.webhook_get(ws.id, a).await.unwrap().unwrap();
        assert!(!hook_a.is_active);
        assert_eq!(
            hook_a.disabled_reason.as_deref(),
            Some("the receiver answered 410 Gone")
        );
        let due = s.notices_due(hookline::clock::now_ms() + 1).await.unwrap();
        assert!(
            due.iter()
                .any(|n| n.kind == "webhook_disabled" && n.webhook_id == a),
            "{due:?}"
        );
        let (off, _) = s
            .claim(
                ask(IdMap::from_iter([(a, 1)]), IdMap::default()),
                Ledger::default(),
            )
            .await
            .unwrap();
        assert!(off.jobs.iter().all(|j| j.webhook_id != a));
        assert!(off.inactive.contains(&a));
        s.queue_stop().await.unwrap();
    }
);

//! The start page, instance admins' workspaces and event types, and a newcomer's first steps.

use super::*;

#[tokio::test]
async fn home_switches_workspaces_and_instance_admins_create_them() {
    let ui = ui().await;
    // One workspace: straight into it.
    let (s, _) = ui.owner.get("/").await;
    assert_eq!(s, 303);
    // Two: a picker with both, and no admin forms.
    let owner = ui
        .app
        .store
        .user_by_email("owner@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    let extra = ui.app.workspace("hooli").await;
    let added = ui
        .app
        .store
        .member_add_existing(extra, owner, Role::Viewer)
        .await
        .unwrap();
    assert!(matches!(added, hookline::store::types::MemberAdded::Added));
    let (s, html) = ui.owner.get("/").await;
    assert_eq!(s, 200);
    assert!(
        html.contains("href=\"/w/acme/webhooks\"") && html.contains("href=\"/w/hooli/webhooks\"")
    );
    assert!(!html.contains("globex"));
    assert!(!html.contains("Create a workspace"));
    let r = ui.owner.post("/workspaces", &[("slug", "mine")]).await;
    assert_eq!(r.status(), 403);
    ui.app.user("root@example.com", PW, true, None).await;
    let root = login_as(&ui.app, "root@example.com").await;
    let (_, html) = root.get("/").await;
    assert!(
        html.contains("href=\"/w/acme/webhooks\"") && html.contains("href=\"/w/globex/webhooks\"")
    );
    assert!(html.contains("Create a workspace"));
    let r = root
        .post("/workspaces", &[("slug", "Bad Slug!"), ("name", "Kept")])
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"slug-error\">use 1–63 lowercase letters"));
    assert!(html.contains("value=\"Bad Slug!\"") && html.contains("value=\"Kept\""));
    let r = root.post("/workspaces", &[("slug", "acme")]).await;
    assert_eq!(r.status(), 422);
    assert!(unescape(&r.text().await.unwrap()).contains("a workspace 'acme' already exists"));
    let (_, html) = root
        .post_follow("/workspaces", &[("slug", "initech"), ("name", "Initech")])
        .await;
    assert!(
        html.contains("Workspace “Initech” created")
            && html.contains("href=\"/w/initech/webhooks\"")
    );
    // Instance admins act in every workspace.
    let (s, html) = root.get("/w/globex/webhooks").await;
    assert_eq!(s, 200);
    assert!(html.contains("Add Webhook") && html.contains("instance admin"));
    let (loc, _) = root
        .post_follow("/w/globex/webhooks", &valid_form("https://g.example.com/"))
        .await;
    assert!(loc.starts_with("/w/globex/webhooks/"));
}

#[tokio::test]
async fn event_types_are_listed_for_all_and_created_by_instance_admins() {
    let ui = ui().await;
    let (s, html) = ui.viewer.get("/event-types").await;
    assert_eq!(s, 200);
    assert!(html.contains("project.created") && html.contains("A project was created"));
    assert!(html.contains("\"project\": 7"), "example payload");
    assert!(!html.contains("Add an event type"));
    assert_eq!(
        ui.owner
            .post("/event-types", &[("name", "x.y")])
            .await
            .status(),
        403
    );
    ui.app.user("root@example.com", PW, true, None).await;
    let root = login_as(&ui.app, "root@example.com").await;
    let r = root
        .post(
            "/event-types",
            &[
                ("name", "bad name"),
                ("description", "Kept"),
                ("example", "{\"a\":"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    // Every wrong field at once: the name is checked although the example is not JSON.
    assert!(html.contains("id=\"example-error\">not valid JSON"));
    assert!(html.contains("id=\"name-error\">use segments of letters"));
    assert!(html.contains("value=\"bad name\"") && html.contains(">{\"a\":</textarea>"));
    let long = "d".repeat(1001);
    let r = root
        .post(
            "/event-types",
            &[("name", "x..y"), ("description", &long), ("example", "[1]")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    for field in ["name", "description", "example"] {
        assert!(
            html.contains(&format!("id=\"{field}-error\">")),
            "no error shown for {field}"
        );
        assert!(
            html.contains(&format!("href=\"#{field}\"")),
            "summary links {field}"
        );
    }
    let r = root
        .post("/event-types", &[("name", "bad name"), ("example", "")])
        .await;
    assert!(
        unescape(&r.text().await.unwrap()).contains("id=\"name-error\">use segments of letters")
    );
    let r = root
        .post("/event-types", &[("name", "x.y"), ("example", "[1]")])
        .await;
    assert!(unescape(&r.text().await.unwrap()).contains("must be a JSON object"));
    let r = root
        .post("/event-types", &[("name", "project.created")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(unescape(&r.text().await.unwrap()).contains("already exists"));
    let (_, html) = root
        .post_follow(
            "/event-types",
            &[
                ("name", "invoice.paid"),
                ("description", "An invoice was paid"),
                ("example", "{\"amount\": 5}"),
            ],
        )
        .await;
    assert!(html.contains("Event type invoice.paid created."));
    // The new type is offered on the webhook form.
    let (_, html) = ui.owner.get("/w/acme/webhooks/new").await;
    assert!(html.contains("value=\"invoice.paid\"") && html.contains("An invoice was paid"));
}

/// A newcomer's first steps: someone with one workspace goes straight into it; an empty
/// instance's Add Webhook form says event types come first and how to define them (a link
/// for instance admins, the CLI line for everyone); the API's 422 for an unknown type says
/// the same.
#[tokio::test]
async fn first_steps_lead_somewhere() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    app.user("ann@example.com", PW, false, Some((ws, Role::Owner)))
        .await;
    app.user("root@example.com", PW, true, Some((ws, Role::Owner)))
        .await;
    let ann = login_as(&app, "ann@example.com").await;
    let r = ann.b.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/w/acme/webhooks");
    // Instance admins keep the start page: it is where workspaces are made.
    let root = login_as(&app, "root@example.com").await;
    let (s, html) = root.get("/").await;
    assert_eq!(s, 200);
    assert!(html.contains("acme"));
    // No event types yet.
    let (_, html) = ann.get("/w/acme/webhooks/new").await;
    assert!(html.contains("id=\"no-event-types\""));
    assert!(html.contains("hookline event-type create"));
    assert!(html.contains("ask the operator"));
    assert!(!html.contains("href=\"/event-types\">Event types</a> page"));
    let (_, html) = root.get("/w/acme/webhooks/new").await;
    assert!(html.contains("href=\"/event-types\">Event types</a> page"));
    assert!(html.contains("hookline event-type create"));
    // The API says how, too.
    let key = app.api_key(Some(ws), "webhooks,events").await;
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(&key),
            Some(json!({"url": "https://example.com/h", "events": ["project.created"]})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "events");
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("hookline event-type create project.created")
            && msg.contains("POST /api/v1/event-types"),
        "{msg}"
    );
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/events",
            Some(&key),
            Some(json!({"type": "project.created", "data": {}})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("hookline event-type create project.created"));
}

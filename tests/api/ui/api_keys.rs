//! API keys: shown once, working, revoked.

use super::*;

#[tokio::test]
async fn api_keys_are_shown_once_work_and_can_be_revoked() {
    let ui = ui().await;
    let (s, html) = ui.owner.get("/w/acme/api-keys").await;
    assert_eq!(s, 200);
    assert!(html.contains("Create an API key"));
    // No scope chosen: an error, the name kept.
    let r = ui
        .owner
        .post("/w/acme/api-keys", &[("name", "backend")])
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"scopes-error\">choose at least one scope"));
    assert!(html.contains("value=\"backend\""));
    let long = "x".repeat(101);
    let r = ui
        .owner
        .post("/w/acme/api-keys", &[("name", &long), ("scopes", "events")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"name-error\""));
    let (_, html) = ui
        .owner
        .post_follow(
            "/w/acme/api-keys",
            &[("name", "backend"), ("scopes", "webhooks")],
        )
        .await;
    let i = html.find("id=\"new-key\"").expect("the key is shown");
    let key: String = html[i..]
        .split('>')
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    assert!(key.starts_with("hk_") && key.len() == 43, "{key}");
    let (s, _) = ui
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&key), None)
        .await;
    assert_eq!(s, 200, "the new key works");
    let (s, _) = ui
        .app
        .api(
            Method::POST,
            "/api/v1/events",
            Some(&key),
            Some(json!({"type": "project.created", "data": {}})),
        )
        .await;
    assert_eq!(s, 403, "only the chosen scope");
    // Listed by prefix, never again in full.
    let (_, html) = ui.owner.get("/w/acme/api-keys").await;
    assert!(!html.contains(&key));
    assert!(html.contains(&format!("{}…", &key[..11])));
    assert!(html.contains("backend"));
    // Revoke.
    let kid: i64 = ui.app.sql_i64("SELECT max(id) FROM api_keys", &[]).await;
    let (_, html) = ui
        .owner
        .post_follow(&format!("/w/acme/api-keys/{kid}/revoke"), &[])
        .await;
    assert!(html.contains("revoked") && html.contains("Revoked"));
    let (s, _) = ui
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&key), None)
        .await;
    assert_eq!(s, 401);
    // Viewers see the list only.
    let (_, html) = ui.viewer.get("/w/acme/api-keys").await;
    assert!(html.contains("backend"));
    assert!(!html.contains("Create an API key") && !html.contains("/revoke"));
    let r = ui
        .viewer
        .post("/w/acme/api-keys", &[("name", "x"), ("scopes", "events")])
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn keys_made_in_the_ui_may_have_portal_but_never_workspaces() {
    let u = ui().await;
    let (_, html) = u.owner.get("/w/acme/api-keys").await;
    assert!(
        html.contains("value=\"portal\""),
        "the portal scope is offered"
    );
    assert!(
        !html.contains("value=\"workspaces\""),
        "the workspaces scope is not"
    );
    for scopes in [
        &["workspaces"][..],
        &["webhooks", "workspaces"],
        &["root"],
        &[],
    ] {
        let mut fields = vec![("name", "k")];
        fields.extend(scopes.iter().map(|s| ("scopes", *s)));
        let r = u.owner.post("/w/acme/api-keys", &fields).await;
        assert_eq!(r.status(), 422, "{scopes:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains("scope"), "{scopes:?}: {html}");
    }
    let r = u
        .owner
        .post(
            "/w/acme/api-keys",
            &[("name", "links"), ("scopes", "portal")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let scopes = u
        .app
        .sql_text("SELECT scopes FROM api_keys WHERE name = 'links'", &[])
        .await;
    assert_eq!(scopes, "portal");
}

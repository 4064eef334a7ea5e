//! Roles, CSRF, Origin, tenancy and the Content-Security-Policy across every page and form.

use super::*;

/// Every state-changing route, with a webhook, delivery, key and member of acme.
async fn post_routes(ui: &Ui) -> Vec<String> {
    let hook = ui
        .webhook(json!({"url": "https://a.example.com/", "events": ["*"]}))
        .await;
    ui.publish("project.created", json!({})).await;
    let app = &ui.app;
    let delivery = app.sql_i64("SELECT max(id) FROM deliveries", &[]).await;
    let key = app
        .sql_i64(
            "SELECT max(id) FROM api_keys WHERE workspace_id = (SELECT id FROM workspaces WHERE slug = 'acme')",
            &[],
        )
        .await;
    let member = app
        .sql_i64(
            "SELECT id FROM users WHERE email = 'viewer@example.com'",
            &[],
        )
        .await;
    let ws = app
        .store
        .workspace_by_slug("acme")
        .await
        .unwrap()
        .unwrap()
        .id;
    let invited = app
        .store
        .invitation_create(hookline::store::types::NewInvitation {
            token_hash: hookline::auth::token_hash(&hookline::auth::new_token()),
            workspace_id: ws,
            email: hookline::domain::Email::parse("invited@example.com").unwrap(),
            role: Role::Viewer,
            invited_by: None,
            actor_is_owner: true,
            now: hookline::clock::now_ms(),
            ttl_ms: 60_000,
        })
        .await
        .unwrap();
    assert!(matches!(invited, hookline::store::types::Invited::Created));
    let invitation = app.sql_i64("SELECT max(id) FROM invitations", &[]).await;
    vec![
        "/w/acme/webhooks".into(),
        format!("/w/acme/webhooks/{hook}/edit"),
        format!("/w/acme/webhooks/{hook}/active"),
        format!("/w/acme/webhooks/{hook}/test"),
        format!("/w/acme/webhooks/{hook}/rotate"),
        format!("/w/acme/webhooks/{hook}/reveal"),
        format!("/w/acme/webhooks/{hook}/delete"),
        format!("/w/acme/deliveries/{delivery}/retry"),
        "/w/acme/api-keys".into(),
        format!("/w/acme/api-keys/{key}/revoke"),
        "/w/acme/members".into(),
        format!("/w/acme/members/{member}/role"),
        format!("/w/acme/members/{member}/remove"),
        "/w/acme/invitations".into(),
        format!("/w/acme/invitations/{invitation}/revoke"),
    ]
}

#[tokio::test]
async fn viewers_are_refused_every_change() {
    let ui = ui().await;
    let routes = post_routes(&ui).await;
    for path in &routes {
        let r = ui
            .viewer
            .post(
                path,
                &[
                    ("active", "false"),
                    ("role", "viewer"),
                    ("url", "https://x.example/"),
                    ("events_mode", "all"),
                    ("scopes", "events"),
                    ("email", "z@example.com"),
                    ("password", PW),
                ],
            )
            .await;
        assert_eq!(r.status(), 403, "viewer POST {path}");
    }
    // Nothing changed.
    let (_, list) = ui.api(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["data"][0]["is_active"], true);
    assert_eq!(list["data"][0]["url"], "https://a.example.com/");
    // And the pages offer no forms but logout.
    let hook = list["data"][0]["id"].as_i64().unwrap();
    for page in [
        "/w/acme/webhooks".to_string(),
        format!("/w/acme/webhooks/{hook}"),
        format!("/w/acme/webhooks/{hook}/deliveries"),
        "/w/acme/api-keys".into(),
        "/w/acme/members".into(),
    ] {
        let (s, html) = ui.viewer.get(&page).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(
            html.matches("method=\"post\"").count(),
            1,
            "{page} offers a form to a viewer"
        );
        assert!(
            !html.contains("Send Test</button>") && !html.contains("Edit</a>"),
            "{page}"
        );
    }
    for page in [
        format!("/w/acme/webhooks/{hook}/edit"),
        format!("/w/acme/webhooks/{hook}/delete"),
        "/w/acme/webhooks/new".into(),
    ] {
        assert_eq!(ui.viewer.get(&page).await.0, 403, "{page}");
    }
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_origin_are_refused() {
    let ui = ui().await;
    let routes = post_routes(&ui).await;
    let extra = ["/workspaces", "/event-types", "/account/password"];
    for path in routes.iter().map(String::as_str).chain(extra) {
        let r = ui.owner.post_raw(path, &[("active", "false")]).await;
        assert_eq!(r.status(), 403, "no token: POST {path}");
        let r = ui
            .owner
            .post_raw(path, &[("csrf", "forged"), ("active", "false")])
            .await;
        assert_eq!(r.status(), 403, "wrong token: POST {path}");
        let r = ui
            .owner
            .b
            .post(ui.app.url(path))
            .header("origin", "https://evil.example")
            .form(&[("csrf", ui.owner.csrf.as_str()), ("active", "false")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "foreign origin: POST {path}");
    }
    // Another session's token does not work either.
    let r = ui
        .owner
        .post_raw(
            &routes[2],
            &[("csrf", ui.admin.csrf.as_str()), ("active", "false")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let (_, list) = ui.api(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["data"][0]["is_active"], true, "nothing changed");
    // Not logged in: to the login page, nothing changed.
    let anon = ui.app.browser();
    let r = anon
        .post(ui.app.url(&routes[2]))
        .form(&[("active", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?next="));
}

#[tokio::test]
async fn another_workspaces_ids_and_non_members_get_404() {
    let ui = ui().await;
    let theirs = ui.other_webhook().await;
    // A delivery in globex.
    let (s, _) = ui
        .app
        .api(
            Method::POST,
            "/api/v1/events",
            Some(&ui.other_key),
            Some(json!({"type": "project.created", "data": {}})),
        )
        .await;
    assert_eq!(s, 202);
    let delivery = ui.app.sql_i64("SELECT max(id) FROM deliveries", &[]).await;
    let key = ui.app.sql_i64("SELECT max(id) FROM api_keys", &[]).await;
    let outsider = ui
        .app
        .sql_i64(
            "SELECT id FROM users WHERE email = 'outsider@example.com'",
            &[],
        )
        .await;
    for page in [
        format!("/w/acme/webhooks/{theirs}"),
        format!("/w/acme/webhooks/{theirs}/edit"),
        format!("/w/acme/webhooks/{theirs}/delete"),
        format!("/w/acme/webhooks/{theirs}/deliveries"),
        format!("/w/acme/deliveries/{delivery}"),
        "/w/acme/webhooks/999999".into(),
        "/w/acme/webhooks/abc".into(),
        "/w/nope/webhooks".into(),
    ] {
        assert_eq!(ui.owner.get(&page).await.0, 404, "GET {page}");
    }
    for path in [
        format!("/w/acme/webhooks/{theirs}/edit"),
        format!("/w/acme/webhooks/{theirs}/active"),
        format!("/w/acme/webhooks/{theirs}/test"),
        format!("/w/acme/webhooks/{theirs}/rotate"),
        format!("/w/acme/webhooks/{theirs}/reveal"),
        format!("/w/acme/webhooks/{theirs}/delete"),
        format!("/w/acme/deliveries/{delivery}/retry"),
        format!("/w/acme/api-keys/{key}/revoke"),
        format!("/w/acme/members/{outsider}/role"),
        format!("/w/acme/members/{outsider}/remove"),
    ] {
        let r = ui
            .owner
            .post(
                &path,
                &[
                    ("active", "false"),
                    ("role", "viewer"),
                    ("url", "https://x.example/"),
                    ("events_mode", "all"),
                ],
            )
            .await;
        assert_eq!(r.status(), 404, "POST {path}");
        // Viewers get 404 too: existence is not revealed by a 403.
        let r = ui
            .viewer
            .post(&path, &[("active", "false"), ("role", "viewer")])
            .await;
        assert_eq!(r.status(), 404, "viewer POST {path}");
    }
    // Still there, unchanged.
    let (s, b) = ui
        .app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{theirs}"),
            Some(&ui.other_key),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["is_active"], true);
    // A non-member sees nothing of acme, GET or POST.
    for page in [
        "/w/acme",
        "/w/acme/webhooks",
        "/w/acme/webhooks/new",
        "/w/acme/api-keys",
        "/w/acme/members",
    ] {
        assert_eq!(ui.outsider.get(page).await.0, 404, "outsider GET {page}");
    }
    let r = ui
        .outsider
        .post("/w/acme/webhooks", &valid_form("https://x.example.com/"))
        .await;
    assert_eq!(r.status(), 404);
    let r = ui
        .outsider
        .post("/w/acme/api-keys", &[("scopes", "events")])
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn pages_are_csp_clean_and_load_the_script_file() {
    let ui = local_ui().await;
    let rx = Receiver::start(Receiver::always(500)).await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [], "name": "Styled"}))
        .await;
    ui.publish("project.created", json!({"a": 1})).await;
    let list = ui
        .wait_deliveries(id, |l| l.len() == 1 && l[0]["status"] == "failed")
        .await;
    let did = list[0]["id"].as_i64().unwrap();
    ui.app.user("root@example.com", PW, true, None).await;
    let root = login_as(&ui.app, "root@example.com").await;
    for page in [
        "/".to_string(),
        "/event-types".into(),
        "/account/password".into(),
        "/w/acme/webhooks".into(),
        "/w/acme/webhooks/new".into(),
        format!("/w/acme/webhooks/{id}"),
        format!("/w/acme/webhooks/{id}/edit"),
        format!("/w/acme/webhooks/{id}/delete"),
        format!("/w/acme/webhooks/{id}/deliveries"),
        format!("/w/acme/deliveries/{did}"),
        "/w/acme/api-keys".into(),
        "/w/acme/members".into(),
    ] {
        let r = root.b.get(ui.app.url(&page)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
        assert!(r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        assert_eq!(r.headers()["cache-control"], "no-store", "{page}");
        let html = r.text().await.unwrap();
        // Page content may contain URLs the user typed; only check the frame's own tags.
        assert_csp_clean(&html.replace(&rx.url, ""), &page);
        assert!(html.contains("<script src=\"/static/app.js\" defer></script>"));
        assert!(html.contains("<html lang=\"en\">") && html.contains("name=\"viewport\""));
        // Every input has a label (the JavaScript row template gets ids when cloned).
        let html = match (html.find("<template"), html.find("</template>")) {
            (Some(a), Some(b)) => format!("{}{}", &html[..a], &html[b..]),
            _ => html,
        };
        for (i, _) in html.match_indices("<input ") {
            let tag = &html[i..html[i..].find('>').unwrap() + i];
            if tag.contains("type=\"hidden\"")
                || tag.contains("type=\"checkbox\"")
                || tag.contains("type=\"radio\"")
            {
                continue;
            }
            let id = tag
                .split("id=\"")
                .nth(1)
                .map(|s| s.split('"').next().unwrap());
            let id = id.unwrap_or_else(|| panic!("{page}: input without id: {tag}"));
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "{page}: no label for {id}"
            );
        }
    }
    let r = ui
        .app
        .http
        .get(ui.app.url("/static/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert!(r.headers().contains_key("etag"));
}

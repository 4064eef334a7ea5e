//! The portal: one-time links into one workspace's settings, the session they open (its
//! role, its single workspace, its idle end), what it records, and the headers that let it
//! live in the vendor's iframe and keep every other page out of frames.

use super::*;

/// The id of workspace `slug`.
async fn ws_id(app: &TestApp, slug: &'static str) -> i64 {
    app.store.workspace_by_slug(slug).await.unwrap().unwrap().id
}

/// A portal link into acme, made over the API the way a vendor's backend does.
async fn link(u: &Ui, body: Value) -> String {
    let key = u
        .app
        .api_key(Some(ws_id(&u.app, "acme").await), "portal")
        .await;
    let (s, b) = u
        .app
        .api(Method::POST, "/api/v1/portal-links", Some(&key), Some(body))
        .await;
    assert_eq!(s, 201, "{b}");
    b["data"]["url"].as_str().unwrap().to_string()
}

/// Opens `url` in a fresh browser: the portal session, on acme's Webhooks page.
async fn open(u: &Ui, url: &str) -> Session {
    let b = u.app.browser();
    let r = b.get(url).send().await.unwrap();
    assert_eq!(r.status(), 303, "opening the link");
    assert_eq!(r.headers()["location"], "/w/acme/webhooks");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("hookline_portal=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // The session's form token (a viewer's pages have no form to read it from).
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("hookline_portal=");
    let hash = hookline::auth::token_hash(token);
    let csrf = u
        .app
        .sql_text(
            "SELECT csrf_token FROM portal_sessions WHERE token_hash = ?1",
            &[hash.into()],
        )
        .await;
    Session {
        csrf,
        b,
        base: u.app.base.clone(),
    }
}

async fn portal(u: &Ui, role: &str, email: Option<&str>) -> Session {
    let mut body = json!({"role": role});
    if let Some(e) = email {
        body["email"] = json!(e);
    }
    open(u, &link(u, body).await).await
}

/// A page that sends the visitor back to the vendor: never a login form.
fn assert_back_to_vendor(html: &str, what: &str) {
    assert!(!html.contains("name=\"password\""), "{what}: a login form");
    assert!(html.contains("Go back to"), "{what}: {html}");
}

#[tokio::test]
async fn a_portal_link_opens_once_and_bad_links_say_to_go_back() {
    let u = ui().await;
    let url = link(&u, json!({"role": "admin", "email": "ann@acme.example"})).await;
    let s = open(&u, &url).await;
    let (st, html) = s.get("/w/acme/webhooks").await;
    assert_eq!(st, 200);
    assert!(
        html.contains("ann@acme.example"),
        "the header says who it is"
    );

    // A second use, in the same browser or another.
    for b in [s.b.clone(), u.app.browser()] {
        let r = b.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 410);
        let html = r.text().await.unwrap();
        assert!(html.contains("already used"), "{html}");
        assert_back_to_vendor(&html, "second use");
    }

    // Expired before it was opened.
    let expired = link(&u, json!({"role": "viewer"})).await;
    let token = expired.rsplit('/').next().unwrap().to_string();
    let hash = hookline::auth::token_hash(&token);
    u.app
        .sql_run(
            "UPDATE portal_links SET expires_at = 1 WHERE token_hash = ?1",
            &[hash.into()],
        )
        .await;
    let r = u.app.browser().get(&expired).send().await.unwrap();
    assert_eq!(r.status(), 410);
    let html = r.text().await.unwrap();
    assert!(html.contains("expired"), "{html}");
    assert_back_to_vendor(&html, "expired");

    // Unknown, truncated, tampered or not a token at all.
    let long = "a".repeat(300);
    let truncated = &token[..20];
    // The last character changed (to one it is not: a token ending in "x" stayed itself).
    let last = if token.ends_with('x') { "y" } else { "x" };
    let tampered = format!("{}{last}", &token[..token.len() - 1]);
    for bad in [
        "x",
        truncated,
        tampered.as_str(),
        long.as_str(),
        "%00%01",
        "..%2F..%2Fetc%2Fpasswd",
        "%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let r = u
            .app
            .browser()
            .get(u.app.url(&format!("/portal/{bad}")))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let html = r.text().await.unwrap();
        assert!(status == 403 || status == 404, "{bad}: {status}");
        if status == 403 {
            assert_back_to_vendor(&html, bad);
        }
    }
}

#[tokio::test]
async fn a_portal_admin_manages_one_workspace_and_its_changes_carry_the_email() {
    let u = ui().await;
    let s = portal(&u, "admin", Some("ann@acme.example")).await;
    let (st, html) = s.get("/w/acme/webhooks").await;
    assert_eq!(st, 200);
    assert!(!html.contains("Switch workspace"), "no workspace switcher");
    assert!(!html.contains("/members\""), "no members section");
    assert!(!html.contains("Log out"), "no account menu");
    assert!(!html.contains("/account/password"), "no account page");
    assert!(
        html.contains("id=\"add-webhook\""),
        "an admin adds webhooks"
    );
    assert_csp_clean(&html, "portal webhooks");

    // Adds a webhook with the form: it records who.
    let (loc, page) = s
        .post_follow("/w/acme/webhooks", &valid_form("https://crm.example/hook"))
        .await;
    assert!(secret_in(&page).is_some(), "the secret is shown once");
    assert!(page.contains("by ann@acme.example"), "changed by: {page}");
    let id = id_in(&loc);
    let (_, b) = u.get_webhook(id).await;
    assert_eq!(b["data"]["changed_by"], "ann@acme.example");
    // Switched off: recorded again.
    let r = s
        .post(
            &format!("/w/acme/webhooks/{id}/active"),
            &[("active", "false")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, b) = u.get_webhook(id).await;
    assert_eq!(b["data"]["is_active"], false);
    assert_eq!(b["data"]["changed_by"], "ann@acme.example");

    // An admin may create API keys of the workspace.
    let (st, html) = s.get("/w/acme/api-keys").await;
    assert_eq!(st, 200);
    assert!(html.contains("name=\"scopes\""), "{html}");
    let r = s
        .post(
            "/w/acme/api-keys",
            &[("name", "From the portal"), ("scopes", "webhooks")],
        )
        .await;
    assert_eq!(r.status(), 303);

    // One workspace only: others are not found; account and admin pages are not here.
    let other = u.other_webhook().await;
    for path in [
        "/w/globex/webhooks".to_string(),
        format!("/w/globex/webhooks/{other}"),
        format!("/w/acme/webhooks/{other}"),
        "/w/nope/webhooks".to_string(),
    ] {
        let (st, _) = s.get(&path).await;
        assert_eq!(st, 404, "{path}");
    }
    for path in ["/account/password", "/event-types", "/w/acme/members"] {
        let (st, html) = s.get(path).await;
        assert_eq!(st, 403, "{path}");
        assert!(!html.contains("name=\"password\""), "{path}: a login form");
    }
    for (path, fields) in [
        ("/workspaces", vec![("slug", "mine")]),
        (
            "/w/acme/members",
            vec![("email", "x@example.com"), ("role", "admin")],
        ),
        (
            "/w/acme/invitations",
            vec![("email", "x@example.com"), ("role", "admin")],
        ),
        ("/w/globex/webhooks", valid_form("https://crm.example/hook")),
    ] {
        let r = s.post(path, &fields).await;
        assert!(
            r.status() == 403 || r.status() == 404,
            "{path}: {}",
            r.status()
        );
    }
    let r = s.b.get(u.app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/w/acme/webhooks",
        "home is the workspace"
    );
    // A form without this session's token is refused.
    let r = s
        .post_raw("/w/acme/webhooks", &valid_form("https://crm.example/x"))
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_portal_viewer_reads_and_changes_nothing() {
    let u = ui().await;
    let id = u
        .webhook(json!({"url": "https://crm.example/hook", "events": ["*"]}))
        .await;
    let s = portal(&u, "viewer", None).await;
    let (st, html) = s.get("/w/acme/webhooks").await;
    assert_eq!(st, 200);
    assert!(html.contains("via Hookline"), "no email: via the brand");
    assert!(!html.contains("id=\"add-webhook\""));
    let (st, html) = s.get(&format!("/w/acme/webhooks/{id}")).await;
    assert_eq!(st, 200);
    assert!(
        !html.contains("<form method=\"post\" action=\"/w/acme/webhooks/"),
        "no forms: {html}"
    );
    let (_, html) = s.get("/w/acme/api-keys").await;
    assert!(!html.contains("name=\"scopes\""), "no key form");
    for (path, fields) in [
        (
            "/w/acme/webhooks".to_string(),
            valid_form("https://crm.example/x"),
        ),
        (
            format!("/w/acme/webhooks/{id}/active"),
            vec![("active", "false")],
        ),
        (format!("/w/acme/webhooks/{id}/delete"), vec![]),
        (format!("/w/acme/webhooks/{id}/rotate"), vec![]),
        (
            "/w/acme/api-keys".to_string(),
            vec![("name", "k"), ("scopes", "webhooks")],
        ),
    ] {
        let r = s.post(&path, &fields).await;
        assert_eq!(r.status(), 403, "{path}");
    }
    let (_, b) = u.get_webhook(id).await;
    assert_eq!(b["data"]["is_active"], true);
}

#[tokio::test]
async fn a_portal_session_ends_when_idle_and_moves_its_end_when_used() {
    let u = ui().await;
    let s = portal(&u, "admin", Some("ann@acme.example")).await;
    // Used after a while: the end moves forward.
    u.app
        .sql_run(
            "UPDATE portal_sessions SET last_seen_at = last_seen_at - 120000, expires_at = expires_at - 120000",
            &[],
        )
        .await;
    let before = u
        .app
        .sql_i64("SELECT expires_at FROM portal_sessions", &[])
        .await;
    let (st, _) = s.get("/w/acme/webhooks").await;
    assert_eq!(st, 200);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = u
            .app
            .sql_i64("SELECT expires_at FROM portal_sessions", &[])
            .await;
        if now > before + 60_000 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the idle end did not move"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Idle past its end: a page that says so, never a login form.
    u.app
        .sql_run("UPDATE portal_sessions SET expires_at = 1", &[])
        .await;
    for path in ["/w/acme/webhooks", "/w/acme/api-keys", "/account/password"] {
        let (st, html) = s.get(path).await;
        assert_eq!(st, 403, "{path}");
        assert!(html.contains("session has ended"), "{path}: {html}");
        assert_back_to_vendor(&html, path);
    }
    let r = s
        .post("/w/acme/webhooks", &valid_form("https://crm.example/x"))
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn an_account_and_a_portal_session_in_one_browser_keep_their_places() {
    let u = ui().await;
    // The outsider (owner of globex) opens a link into acme in the same browser.
    let url = link(&u, json!({"role": "viewer", "email": "ann@acme.example"})).await;
    let r = u.outsider.b.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let (st, html) = u.outsider.get("/w/acme/webhooks").await;
    assert_eq!(st, 200);
    assert!(
        html.contains("ann@acme.example"),
        "acme is seen as the portal visitor"
    );
    let (st, html) = u.outsider.get("/w/globex/webhooks").await;
    assert_eq!(st, 200, "their own workspace stays theirs");
    assert!(html.contains("outsider@example.com"));
    let (st, _) = u.outsider.get("/account/password").await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn plans_without_webhooks_show_it_and_refuse_changes() {
    let u = ui().await;
    let id = u
        .webhook(json!({"url": "https://crm.example/hook", "events": ["*"]}))
        .await;
    let ws = ws_id(&u.app, "acme").await;
    u.app
        .sql_run(
            "UPDATE workspaces SET webhooks_enabled = FALSE WHERE id = ?1",
            &[ws.into()],
        )
        .await;
    let (st, html) = u.owner.get("/w/acme/webhooks").await;
    assert_eq!(st, 200);
    assert!(
        html.contains("not included in this workspace's plan"),
        "{html}"
    );
    assert!(!html.contains("id=\"add-webhook\""));
    let (st, html) = u.owner.get(&format!("/w/acme/webhooks/{id}")).await;
    assert_eq!(st, 200);
    assert!(!html.contains("id=\"edit-webhook\""));
    let r = u
        .owner
        .post("/w/acme/webhooks", &valid_form("https://crm.example/x"))
        .await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("plan"), "{html}");
    let r = u
        .owner
        .post(
            &format!("/w/acme/webhooks/{id}/active"),
            &[("active", "false")],
        )
        .await;
    assert_eq!(r.status(), 403);
}

/// The headers a page answers with, through a plain client with `cookie`.
async fn headers_of(app: &TestApp, path: &str, cookie: Option<&str>) -> reqwest::header::HeaderMap {
    let mut req = app.http.get(app.url(path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap().headers().clone()
}

#[tokio::test]
async fn portal_pages_may_be_framed_by_the_embed_origins_and_nothing_else() {
    let u = ui_with(|c| {
        c.embed_origins =
            Some("https://app.plnar.example, https://admin.plnar.example:8443".into());
        // Cookies are Secure over https: the public URL says so (the test talks plain http to
        // the listener, as a TLS proxy in front would).
        c.public_url = None;
    })
    .await;
    let url = link(&u, json!({"role": "admin"})).await;
    let r = u.app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors https://app.plnar.example https://admin.plnar.example:8443"),
        "{csp}"
    );
    assert!(r.headers().get("x-frame-options").is_none());
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_string();
    // Over http the cookie is Lax (a Secure cookie would not be kept).
    assert!(
        cookie.contains("SameSite=Lax") && !cookie.contains("Partitioned"),
        "{cookie}"
    );

    let h = headers_of(&u.app, "/w/acme/webhooks", Some(&session)).await;
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors https://app.plnar.example"),
        "{csp}"
    );
    assert!(h.get("x-frame-options").is_none());
    // The same page for an account, the login page, a bad link, the API: no frames.
    for (path, cookie) in [
        ("/login", None),
        ("/", None),
        ("/portal/nope", None),
        ("/api/v1/openapi.json", None),
        ("/w/acme/webhooks", None),
    ] {
        let h = headers_of(&u.app, path, cookie).await;
        let csp = h["content-security-policy"].to_str().unwrap();
        let framable = csp.contains("plnar");
        if path == "/portal/nope" {
            assert!(framable, "a bad link's page shows in the frame: {csp}");
            continue;
        }
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
    let (_, html) = u.owner.get("/w/acme/webhooks").await;
    assert!(!html.is_empty());
    let h = {
        let r = u
            .owner
            .b
            .get(u.app.url("/w/acme/webhooks"))
            .send()
            .await
            .unwrap();
        r.headers().clone()
    };
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h["x-frame-options"], "DENY");
}

#[tokio::test]
async fn without_embed_origins_the_portal_refuses_frames_too() {
    let u = ui().await;
    let url = link(&u, json!({"role": "admin"})).await;
    let r = u.app.http.get(&url).send().await.unwrap();
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn over_https_portal_cookies_are_partitioned_for_the_frame() {
    let u = ui_with(|c| {
        c.embed_origins = Some("https://app.plnar.example".into());
        c.public_url = Some("https://hooks.example.com".into());
    })
    .await;
    let url = link(&u, json!({"role": "admin", "email": "ann@acme.example"})).await;
    assert!(
        url.starts_with("https://hooks.example.com/portal/"),
        "{url}"
    );
    let path = url.trim_start_matches("https://hooks.example.com");
    let r = u.app.http.get(u.app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "Secure", "SameSite=None", "Partitioned"] {
        assert!(cookie.contains(part), "{part}: {cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    // A form's flash message (the secret shown once) travels in a partitioned cookie too.
    let page = u
        .app
        .http
        .get(u.app.url("/w/acme/webhooks/new"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let mut form = valid_form("https://crm.example/hook");
    form.push(("csrf", &csrf));
    let r = u
        .app
        .http
        .post(u.app.url("/w/acme/webhooks"))
        .header("cookie", &session)
        .header("origin", "https://hooks.example.com")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let flash = r.headers()["set-cookie"].to_str().unwrap();
    assert!(flash.starts_with("hookline_flash="), "{flash}");
    for part in ["Secure", "SameSite=None", "Partitioned"] {
        assert!(flash.contains(part), "{part}: {flash}");
    }
    // An account's cookies stay Lax.
    let b = u.app.browser();
    let r = b.get(u.app.url("/login")).send().await.unwrap();
    let csrf_cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        !csrf_cookie.contains("Partitioned") && !csrf_cookie.contains("SameSite=None"),
        "{csrf_cookie}"
    );
}

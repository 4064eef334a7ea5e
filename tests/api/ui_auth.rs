//! First-run setup, login, throttling, CSRF, sessions and logout through the UI's forms.

use crate::helpers::*;

#[tokio::test]
async fn setup_link_creates_the_first_admin_once() {
    let app = spawn_app().await;
    let link = app
        .setup_link
        .clone()
        .expect("empty instance prints a setup link");
    let b = app.browser();
    let page = b.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let csrf = csrf_of(&html);
    let token = link.split("token=").nth(1).unwrap().to_string();
    // Validation errors keep the input and say what is wrong.
    let resp = b
        .post(app.url("/setup"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", &token),
            ("email", "root@example.com"),
            ("password", "short"),
            ("password_confirm", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("at least 10 characters") && html.contains("root@example.com"));
    let resp = b
        .post(app.url("/setup"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", &token),
            ("email", "root@example.com"),
            ("password", "a long enough password"),
            ("password_confirm", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("hookline_session="));
    let home = b.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("root@example.com"));
    // The link is spent.
    let again = app.browser().get(&link).send().await.unwrap();
    assert!(again.text().await.unwrap().contains("Setup is complete"));
    let user = app
        .store
        .user_by_email("root@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(user.is_instance_admin);
}

#[tokio::test]
async fn expired_and_wrong_setup_links_are_refused() {
    let app = spawn_app().await;
    let link = app.setup_link.clone().unwrap();
    let wrong = app
        .http
        .get(app.url("/setup?token=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    app.sql_run("UPDATE setup_tokens SET expires_at = 0", &[])
        .await;
    let resp = app.http.get(&link).send().await.unwrap();
    assert_eq!(resp.status(), 410);
    assert!(resp.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn login_logout_and_cookie_flags() {
    let app = spawn_app().await;
    app.user("ann@example.com", "correct horse battery", false, None)
        .await;
    let b = app.browser();
    // Not logged in: pages redirect to the login form, keeping where to go next.
    let r = b.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2F");
    let wrong = app.login(&b, "ann@example.com", "wrong password!").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("Wrong email or password"));
    let ok = app
        .login(&b, "ANN@example.com", "correct horse battery")
        .await;
    assert_eq!(ok.status(), 303);
    let cookie = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("hookline_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    let home = b
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("ann@example.com"));
    // Logout without the CSRF token is refused; with it, the session ends.
    let r = b
        .post(app.url("/logout"))
        .form(&[("csrf", "bogus")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let csrf = csrf_of(&home);
    let r = b
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(b.get(app.url("/")).send().await.unwrap().status(), 303);
}

#[tokio::test]
async fn secure_cookies_behind_https_public_url() {
    let app = spawn_app_with(|r| r.public_url = Some("https://hooks.example.com".into())).await;
    app.user("ann@example.com", "correct horse battery", false, None)
        .await;
    let b = app.browser();
    let page = b.get(app.url("/login")).send().await.unwrap();
    assert!(page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Secure"));
}

#[tokio::test]
async fn login_without_csrf_or_from_another_origin_is_refused() {
    let app = spawn_app().await;
    app.user("ann@example.com", "correct horse battery", false, None)
        .await;
    let b = app.browser();
    let r = b
        .post(app.url("/login"))
        .form(&[
            ("email", "ann@example.com"),
            ("password", "correct horse battery"),
            ("csrf", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let page = b
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let r = b
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[
            ("email", "ann@example.com"),
            ("password", "correct horse battery"),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn repeated_failures_throttle_the_account() {
    let app = spawn_app().await;
    app.user("ann@example.com", "correct horse battery", false, None)
        .await;
    let b = app.browser();
    for _ in 0..5 {
        assert_eq!(
            app.login(&b, "ann@example.com", "wrong password!")
                .await
                .status(),
            401
        );
    }
    // Even the right password is refused while the account is locked.
    let r = app
        .login(&b, "ann@example.com", "correct horse battery")
        .await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many failed logins"));
}

/// Sends a wrong password for each of `emails`, all at once, from one browser; returns the
/// statuses.
async fn concurrent_wrong_logins(app: &TestApp, emails: Vec<String>) -> Vec<u16> {
    let b = app.browser();
    let page = b
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let tries = emails.into_iter().map(|email| {
        let (b, csrf, url) = (b.clone(), csrf.clone(), app.url("/login"));
        async move {
            b.post(url)
                .form(&[
                    ("email", email.as_str()),
                    ("password", "wrong password!"),
                    ("csrf", csrf.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    futures_util::future::join_all(tries).await
}

/// Forty wrong passwords for one account sent at once: at most the allowed five reach the
/// password check (401); the others are refused before any hashing (429). The same holds for
/// one address spraying many accounts (twenty allowed).
#[tokio::test]
async fn the_login_limit_holds_under_concurrent_attempts() {
    let app = spawn_app().await;
    app.user("ann@example.com", "correct horse battery", false, None)
        .await;
    let got = concurrent_wrong_logins(&app, vec!["ann@example.com".to_string(); 40]).await;
    let checked = got.iter().filter(|&&s| s == 401).count();
    let refused = got.iter().filter(|&&s| s == 429).count();
    assert_eq!(checked + refused, 40, "only 401 and 429: {got:?}");
    assert!(
        (1..=5).contains(&checked),
        "{checked} of 40 concurrent guesses were checked"
    );
    // The right password is refused too while the account is locked.
    let r = app
        .login(&app.browser(), "ann@example.com", "correct horse battery")
        .await;
    assert_eq!(r.status(), 429);

    // One address, many accounts: the address allowance (20) holds as well.
    let app = spawn_app().await;
    let got =
        concurrent_wrong_logins(&app, (0..60).map(|i| format!("u{i}@example.com")).collect()).await;
    let checked = got.iter().filter(|&&s| s == 401).count();
    let refused = got.iter().filter(|&&s| s == 429).count();
    assert_eq!(checked + refused, 60, "only 401 and 429: {got:?}");
    assert!(
        (1..=20).contains(&checked),
        "{checked} of 60 sprayed guesses were checked"
    );
}

#[tokio::test]
async fn open_redirects_are_not_followed_after_login() {
    let app = spawn_app().await;
    app.user("ann@example.com", "correct horse battery", false, None)
        .await;
    let b = app.browser();
    let page = b
        .get(app.url("/login?next=//evil.example"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let r = b
        .post(app.url("/login"))
        .form(&[
            ("email", "ann@example.com"),
            ("password", "correct horse battery"),
            ("csrf", csrf.as_str()),
            ("next", "//evil.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");
}

/// `next` as a browser would follow it: whatever it holds (control characters, backslashes,
/// dot segments, other schemes), the login form keeps it on this site and never fails.
#[tokio::test]
async fn next_never_leaves_the_site_nor_fails() {
    let app = spawn_app().await;
    app.user("ann@example.com", "correct horse battery", false, None)
        .await;
    let hostile = [
        "//evil.example",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r\n/evil.example",
        "\t//evil.example",
        " //evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/..//evil.example",
        "/%2e%2e//evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\u{0}/evil.example",
        "/\u{7f}",
        "/caf\u{e9}",
        "/w/a\"><script>alert(1)</script>",
        "",
    ];
    let base = url::Url::parse(&app.base).unwrap();
    let stays_here = |location: &str, next: &str| {
        let to = base.join(location).unwrap();
        assert_eq!(
            to.origin(),
            base.origin(),
            "next {next:?} redirected to {location:?}"
        );
        assert!(!location.starts_with("//"), "{next:?} gave {location:?}");
    };
    for next in hostile {
        let b = app.browser();
        // The form carries the cleaned value, never the raw one.
        let r = b
            .get(app.url("/login"))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET /login?next={next:?}");
        let page = r.text().await.unwrap();
        assert!(!page.contains("<script>alert"), "{next:?}");
        let field = "name=\"next\" value=\"";
        let i = page.find(field).expect("a next field") + field.len();
        let kept = &page[i..i + page[i..].find('"').unwrap()];
        stays_here(&kept.replace("&#x2f;", "/").replace("&amp;", "&"), next);
        let csrf = csrf_of(&page);
        let r = b
            .post(app.url("/login"))
            .form(&[
                ("email", "ann@example.com"),
                ("password", "correct horse battery"),
                ("csrf", csrf.as_str()),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "POST /login with next {next:?}");
        stays_here(r.headers()["location"].to_str().unwrap(), next);
    }
}

#[tokio::test]
async fn static_assets_have_etags() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/static/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = app
        .http
        .get(app.url("/static/app.css"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
}

#[tokio::test]
async fn instance_admins_download_a_consistent_backup() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    app.user("root@example.com", "correct horse battery", true, None)
        .await;
    app.user(
        "ann@example.com",
        "correct horse battery",
        false,
        Some((ws, hookline::domain::Role::Owner)),
    )
    .await;

    let admin = app.browser();
    assert_eq!(
        app.login(&admin, "root@example.com", "correct horse battery")
            .await
            .status(),
        303
    );
    let home = admin
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&home);
    if app.pg_url.is_some() {
        // PostgreSQL is backed up with pg_dump: the page says so, and a download is refused
        // with the same advice (never a 500).
        assert!(
            !home.contains("Download backup") && home.contains("pg_dump"),
            "{home}"
        );
        let r = admin
            .post(app.url("/backup"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        assert!(r.text().await.unwrap().contains("pg_dump"));
    } else {
        assert!(home.contains("Download backup"));
        let r = admin
            .post(app.url("/backup"))
            .form(&[("csrf", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = admin
            .post(app.url("/backup"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"hookline-"));
        let bytes = r.bytes().await.unwrap();
        assert!(bytes.starts_with(b"SQLite format 3\0"));
        let copy = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(copy.path(), &bytes).unwrap();
        let c = rusqlite::Connection::open(copy.path()).unwrap();
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM workspaces WHERE slug = 'acme'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
        // Nothing left behind in the data directory.
        let leftovers: Vec<_> = std::fs::read_dir(app.data_path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".backup-download")
            })
            .collect();
        assert!(leftovers.is_empty());
    }

    // A workspace owner is not an instance admin.
    let owner = app.browser();
    app.login(&owner, "ann@example.com", "correct horse battery")
        .await;
    let home = owner
        .get(app.url("/w/acme/webhooks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!home.contains("Download backup"));
    let r = owner
        .post(app.url("/backup"))
        .form(&[("csrf", csrf_of(&home).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Behind a trusted proxy the throttle counts per real client (X-Forwarded-For); from an
/// untrusted peer the header is ignored.
#[tokio::test]
async fn login_throttle_uses_forwarded_for_only_from_trusted_proxies() {
    async fn fail_from(app: &TestApp, b: &reqwest::Client, account: &str, xff: &str) -> u16 {
        let page = b
            .get(app.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page);
        b.post(app.url("/login"))
            .header("x-forwarded-for", xff)
            .form(&[
                ("email", account),
                ("password", "wrong password!"),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
    for (trusted, other_client_locked) in [(Some("127.0.0.0/8"), false), (None, true)] {
        let app = spawn_app_with(|r| r.trusted_proxies = trusted.map(String::from)).await;
        let b = app.browser();
        // 20 failures (for different accounts, under the per-account limit) from one client.
        for i in 0..20 {
            assert_eq!(
                fail_from(&app, &b, &format!("u{i}@example.com"), "203.0.113.1").await,
                401
            );
        }
        assert_eq!(
            fail_from(&app, &b, "x@example.com", "203.0.113.1").await,
            429,
            "that client is locked"
        );
        let other = fail_from(&app, &b, "y@example.com", "203.0.113.2").await;
        assert_eq!(
            other == 429,
            other_client_locked,
            "trusted={trusted:?}: another client got {other}"
        );
    }
}

//! Invitations by email (Members) and "Forgot password?" (login), through HTTP like a browser:
//! the one-time links, with and without SMTP (a real SMTP sink), the roles, the throttle and
//! bad input.

use std::time::Duration;

use super::*;
use crate::smtp::{Mail, SmtpSink};

/// A browser not logged in that has opened `path` (and so holds the pre-login CSRF cookie):
/// the client, the page's status and HTML, and its CSRF token (empty when it has none).
async fn open(app: &TestApp, path: &str) -> (reqwest::Client, u16, String, String) {
    let b = app.browser();
    let r = b.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let html = unescape(&r.text().await.unwrap());
    let csrf = if html.contains("name=\"csrf\" value=\"") {
        csrf_of(&html)
    } else {
        String::new()
    };
    (b, status, html, csrf)
}

async fn post(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String, Option<String>) {
    let r = b.post(app.url(path)).form(fields).send().await.unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, unescape(&r.text().await.unwrap()), loc)
}

async fn get(app: &TestApp, b: &reqwest::Client, path: &str) -> (u16, String) {
    let r = b.get(app.url(path)).send().await.unwrap();
    let s = r.status().as_u16();
    (s, unescape(&r.text().await.unwrap()))
}

/// The path of the invitation link shown once on the members page.
fn shown_link(app: &TestApp, html: &str) -> String {
    let start = "id=\"invite-link\" class=\"secret\">";
    let i = html.find(start).expect("the page shows the link") + start.len();
    let link = &html[i..i + html[i..].find('<').unwrap()];
    link.strip_prefix(&app.base)
        .unwrap_or_else(|| panic!("{link} is not on {}", app.base))
        .to_string()
}

/// A mail's text with quoted-printable soft line breaks undone (a link is longer than the
/// 76 characters of a 7bit line, so the body is sent quoted-printable).
fn text_of(mail: &Mail) -> String {
    mail.data.replace("=\r\n", "").replace("=3D", "=")
}

/// The path of the first `{base}{prefix}<token>` link in a mail.
fn mailed_link(app: &TestApp, mail: &Mail, prefix: &str) -> String {
    let start = format!("{}{prefix}", app.base);
    let text = text_of(mail);
    let i = text
        .find(&start)
        .unwrap_or_else(|| panic!("no {start} link in {text}"))
        + app.base.len();
    text[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
        .collect()
}

/// The sink's mails once `n` have arrived (at most 10 s).
async fn mails(smtp: &SmtpSink, n: usize) -> Vec<Mail> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while smtp.mails.lock().unwrap().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} mails arrived",
            smtp.mails.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    smtp.mails.lock().unwrap().clone()
}

async fn role_of(app: &TestApp, email: &'static str) -> Option<Role> {
    let u = app.store.user_by_email(email).await.unwrap()?;
    let ws = app.store.workspace_by_slug("acme").await.unwrap().unwrap();
    app.store.member_role(ws.id, u.id).await.unwrap()
}

/// Invites `email` as `role` from `s` (without SMTP) and returns the link's path.
async fn invite_link(ui: &Ui, s: &Session, email: &str, role: &str) -> String {
    let (_, html) = s
        .post_follow("/w/acme/invitations", &[("email", email), ("role", role)])
        .await;
    shown_link(&ui.app, &html)
}

#[tokio::test]
async fn an_invitation_without_smtp_shows_the_link_once_and_makes_a_member() {
    let ui = ui().await;
    let (loc, html) = ui
        .owner
        .post_follow(
            "/w/acme/invitations",
            &[("email", "New@Example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(loc, "/w/acme/members");
    assert!(
        html.contains("Email is not configured on this Hookline"),
        "{html}"
    );
    let link = shown_link(&ui.app, &html);
    assert!(link.starts_with("/invite/") && link.len() > 40, "{link}");
    // Shown once: the next view lists the invitation, without the link.
    let (_, html) = ui.owner.get("/w/acme/members").await;
    assert!(!html.contains(&link));
    assert!(html.contains("Pending invitations") && html.contains("<td>new@example.com</td>"));
    let (_, html) = ui.viewer.get("/w/acme/members").await;
    assert!(html.contains("<td>new@example.com</td>") && !html.contains("/revoke"));

    // The accept page: workspace, email, role, and a form to choose a password.
    let (b, s, html, csrf) = open(&ui.app, &link).await;
    assert_eq!(s, 200);
    assert!(html.contains("Join acme") && html.contains("as <strong>admin</strong>"));
    assert!(html.contains("value=\"new@example.com\" readonly"));
    assert_csp_clean(&html, &link);
    let pw = "a brand new password";
    // Bad input: each a 4xx saying what is wrong, nothing spent.
    let (s, html, _) = post(
        &ui.app,
        &b,
        &link,
        &[
            ("csrf", &csrf),
            ("new_password", pw),
            ("new_password_confirm", "another one!"),
        ],
    )
    .await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"new_password_confirm-error\">the two passwords differ"));
    let (s, html, _) = post(
        &ui.app,
        &b,
        &link,
        &[
            ("csrf", &csrf),
            ("new_password", "short"),
            ("new_password_confirm", "short"),
        ],
    )
    .await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"new_password-error\">use at least 10 characters"));
    let long = "x".repeat(5000);
    let (s, html, _) = post(
        &ui.app,
        &b,
        &link,
        &[
            ("csrf", &csrf),
            ("new_password", &long),
            ("new_password_confirm", &long),
        ],
    )
    .await;
    assert_eq!(s, 422);
    assert!(html.contains("use at most 1024 bytes"));
    let (s, html, _) = post(
        &ui.app,
        &b,
        &link,
        &[
            ("csrf", "forged"),
            ("new_password", pw),
            ("new_password_confirm", pw),
        ],
    )
    .await;
    assert_eq!(s, 403);
    assert!(html.contains("This form has expired"));
    let r = b
        .post(ui.app.url(&link))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf", csrf.as_str()),
            ("new_password", pw),
            ("new_password_confirm", pw),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (s, _, _) = post(
        &ui.app,
        &ui.app.browser(),
        &link,
        &[
            ("csrf", &csrf),
            ("new_password", pw),
            ("new_password_confirm", pw),
        ],
    )
    .await;
    assert_eq!(s, 403, "a token without its cookie");
    assert_eq!(role_of(&ui.app, "new@example.com").await, None);

    // Accepted: an account, a member with the invited role, logged in, in the workspace.
    let (s, _, loc) = post(
        &ui.app,
        &b,
        &link,
        &[
            ("csrf", &csrf),
            ("new_password", pw),
            ("new_password_confirm", pw),
        ],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(loc.as_deref(), Some("/w/acme/webhooks"));
    let (s, html) = get(&ui.app, &b, "/w/acme/webhooks").await;
    assert_eq!(s, 200);
    assert!(
        html.contains("Welcome to acme: you joined as admin."),
        "{html}"
    );
    assert!(html.contains("new@example.com"));
    assert_eq!(role_of(&ui.app, "new@example.com").await, Some(Role::Admin));
    let (s, _) = get(&ui.app, &b, "/w/acme/api-keys").await;
    assert_eq!(s, 200);
    // The password works for logging in; the link works only once.
    assert_eq!(
        ui.app
            .login(&ui.app.browser(), "new@example.com", pw)
            .await
            .status(),
        303
    );
    let (_, s, html, _) = open(&ui.app, &link).await;
    assert_eq!(s, 410);
    assert!(html.contains("Invitation already used"));
    // (Logging in dropped this browser's pre-login token: post from another one.)
    let (b2, _, _, csrf2) = open(&ui.app, "/login").await;
    let (s, html, _) = post(
        &ui.app,
        &b2,
        &link,
        &[
            ("csrf", &csrf2),
            ("new_password", pw),
            ("new_password_confirm", pw),
        ],
    )
    .await;
    assert_eq!(s, 410, "{html}");
    let (_, html) = ui.owner.get("/w/acme/members").await;
    assert!(!html.contains("Pending invitations"));
    assert!(html.contains("<td>new@example.com"));
}

#[tokio::test]
async fn an_invitation_with_smtp_is_emailed_and_an_existing_account_joins_with_its_password() {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let ui = ui_with(|r| r.smtp_url = Some(url)).await;
    let (_, html) = ui.owner.get("/w/acme/members").await;
    assert!(html.contains("Send invitation"));
    let (_, html) = ui
        .admin
        .post_follow(
            "/w/acme/invitations",
            &[("email", "carol@example.com"), ("role", "viewer")],
        )
        .await;
    assert!(
        html.contains("Invitation sent to carol@example.com as viewer."),
        "{html}"
    );
    assert!(
        !html.contains("id=\"invite-link\""),
        "the link is not shown"
    );
    let mail = mails(&smtp, 1).await.remove(0);
    assert!(mail.to[0].contains("carol@example.com"), "{mail:?}");
    assert!(mail
        .data
        .contains("Subject: [Hookline] You are invited to acme"));
    assert!(text_of(&mail).contains("admin@example.com invited you"));
    let link = mailed_link(&ui.app, &mail, "/invite/");
    let (b, s, html, csrf) = open(&ui.app, &link).await;
    assert_eq!(s, 200);
    assert!(html.contains("carol@example.com"));
    let pw = "carols own password";
    let (s, _, loc) = post(
        &ui.app,
        &b,
        &link,
        &[
            ("csrf", &csrf),
            ("new_password", pw),
            ("new_password_confirm", pw),
        ],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/w/acme/webhooks")));
    assert_eq!(
        role_of(&ui.app, "carol@example.com").await,
        Some(Role::Viewer)
    );

    // Someone with an account (a member of globex) proves it with their password.
    ui.owner
        .post_follow(
            "/w/acme/invitations",
            &[("email", "outsider@example.com"), ("role", "admin")],
        )
        .await;
    let mail = mails(&smtp, 2).await.remove(1);
    let link = mailed_link(&ui.app, &mail, "/invite/");
    let (b, s, html, csrf) = open(&ui.app, &link).await;
    assert_eq!(s, 200);
    assert!(html.contains("already has an account") && html.contains("Forgot your password?"));
    let (s, html, _) = post(
        &ui.app,
        &b,
        &link,
        &[("csrf", &csrf), ("account_password", "not the password")],
    )
    .await;
    assert_eq!(s, 422);
    assert!(html.contains(
        "id=\"account_password-error\">this is not the password of outsider@example.com"
    ));
    assert_eq!(role_of(&ui.app, "outsider@example.com").await, None);
    let (s, _, loc) = post(
        &ui.app,
        &b,
        &link,
        &[("csrf", &csrf), ("account_password", PW)],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/w/acme/webhooks")));
    assert_eq!(
        role_of(&ui.app, "outsider@example.com").await,
        Some(Role::Admin)
    );
    assert_eq!(
        get(&ui.app, &b, "/w/globex/webhooks").await.0,
        200,
        "still in globex"
    );
}

#[tokio::test]
async fn only_owners_and_admins_invite_and_only_owners_invite_owners() {
    let ui = ui().await;
    let (_, html) = ui.viewer.get("/w/acme/members").await;
    assert!(!html.contains("Invite by email") && !html.contains("/invitations"));
    let r = ui
        .viewer
        .post(
            "/w/acme/invitations",
            &[("email", "z@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let (_, html) = ui.admin.get("/w/acme/members").await;
    assert!(html.contains("Invite by email") && html.contains("Create invitation link"));
    let r = ui
        .admin
        .post(
            "/w/acme/invitations",
            &[("email", "z@example.com"), ("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Only owners"));
    // An owner may; the admin then cannot withdraw it, the owner can.
    let link = invite_link(&ui, &ui.owner, "boss@example.com", "owner").await;
    let (_, html) = ui.admin.get("/w/acme/members").await;
    assert!(html.contains("<td>boss@example.com</td>") && !html.contains("/revoke"));
    let id: i64 = ui.app.sql_i64("SELECT max(id) FROM invitations", &[]).await;
    let r = ui
        .admin
        .post(
            "/w/acme/invitations",
            &[("email", "boss@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(
        r.status(),
        403,
        "an admin cannot replace an owner's invitation"
    );
    let revoke = format!("/w/acme/invitations/{id}/revoke");
    assert_eq!(ui.admin.post(&revoke, &[]).await.status(), 403);
    assert_eq!(ui.viewer.post(&revoke, &[]).await.status(), 403);
    assert_eq!(ui.outsider.post(&revoke, &[]).await.status(), 404);
    let (_, html) = ui.owner.post_follow(&revoke, &[]).await;
    assert!(html.contains("The invitation of boss@example.com was withdrawn"));
    assert!(!html.contains("<td>boss@example.com</td>"));
    assert_eq!(open(&ui.app, &link).await.1, 410);
    assert_eq!(
        ui.owner.post(&revoke, &[]).await.status(),
        404,
        "already withdrawn"
    );
    // Without a CSRF token: refused.
    let r = ui
        .admin
        .post_raw(
            "/w/acme/invitations",
            &[("email", "z@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn invitation_errors_are_shown_on_their_fields() {
    let ui = ui().await;
    // Every wrong field at once, the input kept.
    let r = ui
        .admin
        .post(
            "/w/acme/invitations",
            &[("email", "nope"), ("role", "boss")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"invite_email-error\">enter an email address"));
    assert!(html.contains("id=\"invite_role-error\">choose owner, admin or viewer"));
    assert!(html.contains("value=\"nope\""));
    assert!(
        html.contains("href=\"#invite_email\""),
        "the summary links the field"
    );
    for (email, role) in [
        ("", "viewer"),
        (&*"a".repeat(300), "viewer"),
        ("x@example.com", ""),
    ] {
        let r = ui
            .admin
            .post("/w/acme/invitations", &[("email", email), ("role", role)])
            .await;
        assert_eq!(r.status(), 422, "{email:?} {role:?}");
    }
    // A member already.
    let r = ui
        .admin
        .post(
            "/w/acme/invitations",
            &[("email", "Viewer@Example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"invite_email-error\">this person is already a member"));
    let count: i64 = ui
        .app
        .sql_i64("SELECT count(*) FROM invitations", &[])
        .await;
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_new_invitation_replaces_the_old_and_expired_or_unknown_links_are_refused() {
    let ui = ui().await;
    let first = invite_link(&ui, &ui.owner, "dan@example.com", "viewer").await;
    let second = invite_link(&ui, &ui.admin, "dan@example.com", "admin").await;
    let (_, s, html, _) = open(&ui.app, &first).await;
    assert_eq!(s, 410);
    assert!(html.contains("replaced by a newer one"));
    let (_, s, html, _) = open(&ui.app, &second).await;
    assert_eq!(s, 200);
    assert!(html.contains("as <strong>admin</strong>"));
    let (_, html) = ui.owner.get("/w/acme/members").await;
    assert_eq!(html.matches("<td>dan@example.com</td>").count(), 1);
    // Expired.
    ui.app
        .sql_run(
            "UPDATE invitations SET expires_at = ?1 WHERE email = 'dan@example.com'",
            &[(hookline::clock::now_ms() - 1).into()],
        )
        .await;
    let (b, s, html, _) = open(&ui.app, &second).await;
    assert_eq!(s, 410);
    assert!(html.contains("Invitation expired") && html.contains("7 days"));
    // A form opened before it expired is refused as well.
    let csrf = csrf_of(&get(&ui.app, &b, "/login").await.1);
    let pw = "a long enough password";
    let (s, html, _) = post(
        &ui.app,
        &b,
        &second,
        &[
            ("csrf", &csrf),
            ("new_password", pw),
            ("new_password_confirm", pw),
        ],
    )
    .await;
    assert_eq!(s, 410, "{html}");
    let (_, html) = ui.owner.get("/w/acme/members").await;
    assert!(
        !html.contains("<td>dan@example.com</td>"),
        "expired ones are not pending"
    );
    // Unknown, and garbage.
    for path in [
        "/invite/nope".to_string(),
        format!("/invite/{}", "A".repeat(5000)),
        "/invite/%00%ff".into(),
    ] {
        let (_, s, html, _) = open(&ui.app, &path).await;
        assert_eq!(s, 404, "{path}");
        assert!(
            html.contains("not found") || html.contains("Not found"),
            "{path}: {html}"
        );
    }
    let (s, _, _) = post(
        &ui.app,
        &ui.app.browser(),
        "/invite/nope",
        &[("new_password", pw)],
    )
    .await;
    assert_eq!(s, 403, "no CSRF cookie");
}

#[tokio::test]
async fn without_smtp_there_is_no_password_reset() {
    let ui = ui().await;
    let (b, s, html, csrf) = open(&ui.app, "/login").await;
    assert_eq!(s, 200);
    assert!(!html.contains("Forgot password?"));
    for path in ["/password/forgot", "/password/reset/whatever"] {
        assert_eq!(open(&ui.app, path).await.1, 404, "GET {path}");
    }
    let (s, _, _) = post(
        &ui.app,
        &b,
        "/password/reset/whatever",
        &[
            ("csrf", &csrf),
            ("new_password", PW),
            ("new_password_confirm", PW),
        ],
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = post(
        &ui.app,
        &b,
        "/password/forgot",
        &[("csrf", &csrf), ("email", "owner@example.com")],
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_password_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let ui = ui_with(|r| r.smtp_url = Some(url)).await;
    let (_, _, html, _) = open(&ui.app, "/login").await;
    assert!(html.contains("href=\"/password/forgot\""));
    let (b, s, html, csrf) = open(&ui.app, "/password/forgot").await;
    assert_eq!(s, 200);
    assert_csp_clean(&html, "/password/forgot");
    // An address without an account: the same answer, and no email.
    let (s, unknown, _) = post(
        &ui.app,
        &b,
        "/password/forgot",
        &[("csrf", &csrf), ("email", "nobody@example.com")],
    )
    .await;
    assert_eq!(s, 200);
    assert!(unknown.contains(
        "If an account exists for nobody@example.com, we sent a link to it. It works for 1 hour."
    ));
    let (s, known, _) = post(
        &ui.app,
        &b,
        "/password/forgot",
        &[("csrf", &csrf), ("email", "Owner@Example.com")],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        known.replace("owner@example.com", "X"),
        unknown.replace("nobody@example.com", "X"),
        "the same page either way"
    );
    let mail = mails(&smtp, 1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.mails.lock().unwrap().len(), 1, "nothing for nobody@");
    assert!(mail.to[0].contains("owner@example.com"));
    assert!(mail
        .data
        .contains("Subject: [Hookline] Reset your password"));
    let link = mailed_link(&ui.app, &mail, "/password/reset/");
    // A second link, which the first one's use spends too.
    post(
        &ui.app,
        &b,
        "/password/forgot",
        &[("csrf", &csrf), ("email", "owner@example.com")],
    )
    .await;
    let other = mailed_link(&ui.app, &mails(&smtp, 2).await[1], "/password/reset/");
    assert_ne!(link, other);

    let (rb, s, html, rcsrf) = open(&ui.app, &link).await;
    assert_eq!(s, 200);
    assert!(html.contains("For owner@example.com"));
    let new_pw = "the new owner password";
    for (fields, status, says) in [
        (
            vec![
                ("new_password", new_pw),
                ("new_password_confirm", "something else"),
            ],
            422,
            "the two new passwords differ",
        ),
        (
            vec![("new_password", "short"), ("new_password_confirm", "short")],
            422,
            "use at least 10 characters",
        ),
        (vec![], 422, "use at least 10 characters"),
    ] {
        let mut all = vec![("csrf", rcsrf.as_str())];
        all.extend(fields);
        let (s, html, _) = post(&ui.app, &rb, &link, &all).await;
        assert_eq!(s, status, "{all:?}");
        assert!(html.contains(says), "{all:?}: {html}");
    }
    let (s, _, _) = post(
        &ui.app,
        &rb,
        &link,
        &[
            ("csrf", "forged"),
            ("new_password", new_pw),
            ("new_password_confirm", new_pw),
        ],
    )
    .await;
    assert_eq!(s, 403);
    // The old session still works until the password is set.
    assert_eq!(ui.owner.get("/w/acme/webhooks").await.0, 200);
    let (s, _, loc) = post(
        &ui.app,
        &rb,
        &link,
        &[
            ("csrf", &rcsrf),
            ("new_password", new_pw),
            ("new_password_confirm", new_pw),
        ],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/login")));
    let (_, html) = get(&ui.app, &rb, "/login").await;
    assert!(html.contains("Your password was changed and you were logged out everywhere."));
    // Every old session is gone; the old password fails, the new one works.
    assert_eq!(ui.owner.get("/w/acme/webhooks").await.0, 303);
    assert_eq!(
        ui.app
            .login(&ui.app.browser(), "owner@example.com", PW)
            .await
            .status(),
        401
    );
    assert_eq!(
        ui.app
            .login(&ui.app.browser(), "owner@example.com", new_pw)
            .await
            .status(),
        303
    );
    // Both links are spent.
    for l in [&link, &other] {
        let (_, s, html, _) = open(&ui.app, l).await;
        assert_eq!(s, 410, "{l}");
        assert!(html.contains("Reset link already used"));
    }
    let (s, _, _) = post(
        &ui.app,
        &rb,
        &link,
        &[
            ("csrf", &rcsrf),
            ("new_password", "yet another password"),
            ("new_password_confirm", "yet another password"),
        ],
    )
    .await;
    assert_eq!(s, 410);
    // Expired and unknown links.
    post(
        &ui.app,
        &b,
        "/password/forgot",
        &[("csrf", &csrf), ("email", "admin@example.com")],
    )
    .await;
    let third = mailed_link(&ui.app, &mails(&smtp, 3).await[2], "/password/reset/");
    ui.app
        .sql_run(
            "UPDATE password_resets SET expires_at = ?1 WHERE used_at IS NULL",
            &[(hookline::clock::now_ms() - 1).into()],
        )
        .await;
    let (_, s, html, _) = open(&ui.app, &third).await;
    assert_eq!(s, 410);
    assert!(html.contains("Reset link expired") && html.contains("1 hour"));
    let (_, s, html, _) = open(&ui.app, "/password/reset/nope").await;
    assert_eq!(s, 404);
    assert!(html.contains("Reset link not valid"));
}

#[tokio::test]
async fn reset_requests_are_checked_and_throttled() {
    let smtp = SmtpSink::start().await;
    let url = smtp.url.clone();
    let ui = ui_with(|r| r.smtp_url = Some(url)).await;
    let (b, _, _, csrf) = open(&ui.app, "/password/forgot").await;
    // Bad input: a clear 4xx, never a 500, and never counted.
    let long = format!("{}@example.com", "a".repeat(10_000));
    for email in [
        "",
        "   ",
        "garbage",
        "a@b",
        long.as_str(),
        "a b@example.com",
    ] {
        let (s, html, _) = post(
            &ui.app,
            &b,
            "/password/forgot",
            &[("csrf", &csrf), ("email", email)],
        )
        .await;
        assert_eq!(s, 422, "{email:?}");
        assert!(html.contains("id=\"email-error\">enter an email address like name@example.com"));
    }
    let (s, html, _) = post(
        &ui.app,
        &b,
        "/password/forgot",
        &[("csrf", "forged"), ("email", "owner@example.com")],
    )
    .await;
    assert_eq!(s, 403);
    assert!(html.contains("This form has expired"));
    let huge = "x".repeat(300 * 1024);
    let (s, html, _) = post(
        &ui.app,
        &b,
        "/password/forgot",
        &[("csrf", &csrf), ("email", &huge)],
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains("The form is larger than"));
    let r = b
        .post(ui.app.url("/password/forgot"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("email", "owner@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Five a time per address, then 429 (known or not, the same).
    for email in ["viewer@example.com", "ghost@example.com"] {
        for i in 0..5 {
            let (s, _, _) = post(
                &ui.app,
                &b,
                "/password/forgot",
                &[("csrf", &csrf), ("email", email)],
            )
            .await;
            assert_eq!(s, 200, "{email} request {i}");
        }
        let (s, html, _) = post(
            &ui.app,
            &b,
            "/password/forgot",
            &[("csrf", &csrf), ("email", &email.to_uppercase())],
        )
        .await;
        assert_eq!(s, 429, "{email}");
        assert!(html.contains("Too many password reset requests. Wait an hour"));
    }
    // Twenty per client: ten used above, ten more addresses, then even a new one is refused.
    for i in 0..10 {
        let email = format!("guess{i}@example.com");
        let (s, _, _) = post(
            &ui.app,
            &b,
            "/password/forgot",
            &[("csrf", &csrf), ("email", &email)],
        )
        .await;
        assert_eq!(s, 200, "{email}");
    }
    let (s, _, _) = post(
        &ui.app,
        &b,
        "/password/forgot",
        &[("csrf", &csrf), ("email", "admin@example.com")],
    )
    .await;
    assert_eq!(s, 429);
    assert_eq!(
        mails(&smtp, 5).await.len(),
        5,
        "one mail per allowed request for viewer@"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.mails.lock().unwrap().len(), 5);
}

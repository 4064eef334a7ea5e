//! Members and roles, under the owner rules.

use super::*;

#[tokio::test]
async fn members_are_added_changed_and_removed_under_the_owner_rules() {
    let ui = ui().await;
    let (s, html) = ui.owner.get("/w/acme/members").await;
    assert_eq!(s, 200);
    for e in [
        "owner@example.com",
        "admin@example.com",
        "viewer@example.com",
    ] {
        assert!(html.contains(e));
    }
    assert!(!html.contains("outsider@example.com"));
    // Validation: bad email; new account without a password.
    let r = ui
        .admin
        .post("/w/acme/members", &[("email", "nope"), ("role", "viewer")])
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"email-error\">enter an email address"));
    assert!(html.contains("value=\"nope\""));
    // Every wrong field at once.
    let r = ui
        .admin
        .post(
            "/w/acme/members",
            &[("email", "nope"), ("role", "boss"), ("password", "short")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    for field in ["email", "role", "password"] {
        assert!(
            html.contains(&format!("id=\"{field}-error\">")),
            "no error shown for {field}"
        );
    }
    let r = ui
        .admin
        .post(
            "/w/acme/members",
            &[
                ("email", "new@example.com"),
                ("role", "admin"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"password-error\">new@example.com has no account yet"));
    assert!(html.contains("at least 10 characters"));
    assert!(html.contains("value=\"admin\" selected"));
    // A new account.
    let (_, html) = ui
        .admin
        .post_follow(
            "/w/acme/members",
            &[
                ("email", "New@Example.com"),
                ("role", "viewer"),
                ("password", PW),
            ],
        )
        .await;
    assert!(html.contains("new@example.com added as viewer."));
    login_as(&ui.app, "new@example.com").await;
    // An existing account (the outsider) by email, without a password.
    let (_, html) = ui
        .admin
        .post_follow(
            "/w/acme/members",
            &[("email", "outsider@example.com"), ("role", "admin")],
        )
        .await;
    assert!(html.contains("outsider@example.com added as admin."));
    assert_eq!(ui.outsider.get("/w/acme/webhooks").await.0, 200);
    let r = ui
        .admin
        .post(
            "/w/acme/members",
            &[("email", "outsider@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("already a member"));
    // Admins cannot grant or touch the owner role; the form does not offer it.
    let (_, html) = ui.admin.get("/w/acme/members").await;
    assert!(!html.contains("<option value=\"owner\""));
    let r = ui
        .admin
        .post(
            "/w/acme/members",
            &[
                ("email", "x@example.com"),
                ("role", "owner"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let uid = |email: &'static str| {
        let store = ui.app.store.clone();
        async move { store.user_by_email(email).await.unwrap().unwrap().id }
    };
    let owner_id = uid("owner@example.com").await;
    let viewer_id = uid("viewer@example.com").await;
    let r = ui
        .admin
        .post(
            &format!("/w/acme/members/{viewer_id}/role"),
            &[("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = ui
        .admin
        .post(&format!("/w/acme/members/{owner_id}/remove"), &[])
        .await;
    assert_eq!(r.status(), 403);
    // The last owner can be neither demoted nor removed.
    let r = ui
        .owner
        .post(
            &format!("/w/acme/members/{owner_id}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("last owner"));
    let r = ui
        .owner
        .post(&format!("/w/acme/members/{owner_id}/remove"), &[])
        .await;
    assert_eq!(r.status(), 409);
    // An owner promotes; then the first owner may step down.
    let (_, html) = ui
        .owner
        .post_follow(
            &format!("/w/acme/members/{viewer_id}/role"),
            &[("role", "owner")],
        )
        .await;
    assert!(html.contains("viewer@example.com is now owner."));
    ui.owner
        .post_follow(
            &format!("/w/acme/members/{owner_id}/role"),
            &[("role", "admin")],
        )
        .await;
    // An admin removes a non-owner.
    let new_id = uid("new@example.com").await;
    let (_, html) = ui
        .admin
        .post_follow(&format!("/w/acme/members/{new_id}/remove"), &[])
        .await;
    assert!(html.contains("new@example.com was removed"));
    assert!(!html.contains("<td>new@example.com"));
    // Bad role values are refused.
    let r = ui
        .viewer
        .post(
            &format!("/w/acme/members/{new_id}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 404, "no longer a member");
    let r = ui
        .viewer
        .post(
            &format!("/w/acme/members/{owner_id}/role"),
            &[("role", "god")],
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn viewers_see_members_but_no_forms() {
    let ui = ui().await;
    let (_, html) = ui.viewer.get("/w/acme/members").await;
    assert!(html.contains("owner@example.com"));
    assert!(!html.contains("Add a member") && !html.contains("/remove") && !html.contains("/role"));
    let r = ui
        .viewer
        .post(
            "/w/acme/members",
            &[
                ("email", "x@example.com"),
                ("role", "viewer"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
}

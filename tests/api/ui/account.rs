//! The account page: changing the password.

use super::*;

#[tokio::test]
async fn changing_the_password_ends_other_sessions() {
    let ui = ui().await;
    let other = login_as(&ui.app, "admin@example.com").await;
    let (s, html) = ui.admin.get("/account/password").await;
    assert_eq!(s, 200);
    assert!(html.contains("name=\"current_password\""));
    let r = ui
        .admin
        .post(
            "/account/password",
            &[
                ("current_password", "wrong password!"),
                ("new_password", "a new long password"),
                ("new_password_confirm", "a new long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("id=\"current_password-error\""));
    let r = ui
        .admin
        .post(
            "/account/password",
            &[
                ("current_password", PW),
                ("new_password", "a new long password"),
                ("new_password_confirm", "another one!!"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("the two new passwords differ"));
    let r = ui
        .admin
        .post(
            "/account/password",
            &[
                ("current_password", PW),
                ("new_password", "short"),
                ("new_password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let (_, html) = ui
        .admin
        .post_follow(
            "/account/password",
            &[
                ("current_password", PW),
                ("new_password", "a new long password"),
                ("new_password_confirm", "a new long password"),
            ],
        )
        .await;
    assert!(html.contains("Password changed"));
    // This session stays; the other one ended.
    assert_eq!(ui.admin.get("/w/acme/webhooks").await.0, 200);
    let r = other
        .b
        .get(ui.app.url("/w/acme/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let b = ui.app.browser();
    assert_eq!(
        ui.app.login(&b, "admin@example.com", PW).await.status(),
        401
    );
    assert_eq!(
        ui.app
            .login(&b, "admin@example.com", "a new long password")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn changing_the_password_spends_reset_links_mailed_before() {
    let ui = ui().await;
    let uid = ui
        .app
        .store
        .user_by_email("admin@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    ui.app
        .store
        .password_reset_create(
            hookline::auth::token_hash("an old reset link"),
            uid,
            hookline::clock::now_ms(),
            3_600_000,
        )
        .await
        .unwrap();
    let (_, html) = ui
        .admin
        .post_follow(
            "/account/password",
            &[
                ("current_password", PW),
                ("new_password", "a new long password"),
                ("new_password_confirm", "a new long password"),
            ],
        )
        .await;
    assert!(html.contains("Password changed"));
    let open = ui
        .app
        .sql_i64(
            "SELECT COUNT(*) FROM password_resets WHERE used_at IS NULL",
            &[],
        )
        .await;
    assert_eq!(open, 0, "the old link would undo the change");
}

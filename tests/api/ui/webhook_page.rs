//! The webhook page: the Active switch, Send Test, Rotate and Reveal, Delete.

use super::*;

#[tokio::test]
async fn active_switch_toggles_and_shows_why_hookline_disabled_it() {
    let ui = ui().await;
    let id = ui
        .webhook(json!({"url": "https://a.example.com/", "events": ["*"], "name": "Switchy"}))
        .await;
    let page = format!("/w/acme/webhooks/{id}");
    let (_, html) = ui.owner.get(&page).await;
    assert!(html.contains("role=\"switch\" aria-checked=\"true\""));
    assert!(html.contains("name=\"active\" value=\"false\""));
    let (loc, html) = ui
        .owner
        .post_follow(&format!("{page}/active"), &[("active", "false")])
        .await;
    assert_eq!(loc, page);
    assert!(html.contains("aria-checked=\"false\"") && html.contains("Webhook turned off"));
    assert_eq!(ui.get_webhook(id).await.1["data"]["is_active"], false);
    ui.owner
        .post_follow(&format!("{page}/active"), &[("active", "true")])
        .await;
    assert_eq!(ui.get_webhook(id).await.1["data"]["is_active"], true);
    // Garbage is refused without a change.
    let r = ui
        .owner
        .post(&format!("{page}/active"), &[("active", "maybe")])
        .await;
    assert_eq!(r.status(), 400);
    // A webhook Hookline turned off says why.
    ui.app
        .sql_run(
            "UPDATE webhooks SET is_active = FALSE, disabled_reason = 'the endpoint answered 410 Gone' WHERE id = ?1",
            &[id.into()],
        )
        .await;
    let (_, html) = ui.viewer.get(&page).await;
    assert!(html.contains("the endpoint answered 410 Gone"));
    // Turning it on again clears the reason.
    ui.owner
        .post_follow(&format!("{page}/active"), &[("active", "true")])
        .await;
    let (_, html) = ui.owner.get(&page).await;
    assert!(!html.contains("410 Gone"));
}

#[tokio::test]
async fn send_test_shows_the_result() {
    let ui = local_ui().await;
    let rx = Receiver::start(|n| if n == 0 { (200, vec![]) } else { (503, vec![]) }).await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "name": "Tested"}))
        .await;
    let page = format!("/w/acme/webhooks/{id}");
    let (_, html) = ui
        .owner
        .post_follow(&format!("{page}/test"), &[("event_type", "webhook.test")])
        .await;
    assert!(html.contains("Test delivered"), "{html}");
    assert!(html.contains("HTTP 200") && html.contains("receiver says hi"));
    assert_eq!(rx.count(), 1);
    assert!(rx.all()[0].body.contains("\"type\":\"webhook.test\""));
    // A failing test says so; an event type's example can be sent.
    let (_, html) = ui
        .owner
        .post_follow(
            &format!("{page}/test"),
            &[("event_type", "project.created")],
        )
        .await;
    assert!(html.contains("Test failed") && html.contains("HTTP 503"));
    assert!(rx.all()[1].body.contains("\"data\":{\"project\":7}"));
    // Shown once.
    let (_, html) = ui.owner.get(&page).await;
    assert!(!html.contains("Test failed"));
    // A test to an unknown type is explained, not sent.
    let (_, html) = ui
        .owner
        .post_follow(&format!("{page}/test"), &[("event_type", "no.such")])
        .await;
    assert!(html.contains("The test was not sent: unknown event type 'no.such'"));
    assert_eq!(rx.count(), 2);
}

#[tokio::test]
async fn rotate_and_reveal_show_the_secret_once() {
    let ui = ui().await;
    let id = ui
        .webhook(json!({"url": "https://a.example.com/", "events": ["*"]}))
        .await;
    let old = ui.get_webhook(id).await.1["data"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let page = format!("/w/acme/webhooks/{id}");
    let (_, html) = ui.owner.get(&page).await;
    assert!(
        secret_in(&html).is_none(),
        "the page does not show the secret by itself"
    );
    let (_, html) = ui.owner.post_follow(&format!("{page}/rotate"), &[]).await;
    let new = secret_in(&html).unwrap();
    assert_ne!(new, old);
    assert!(html.contains("Your new signing secret") && html.contains("24 hours"));
    assert!(html.contains("data-copy=\"secret-value\""));
    assert_eq!(ui.get_webhook(id).await.1["data"]["secret"], new);
    let (_, html) = ui.owner.get(&page).await;
    assert!(secret_in(&html).is_none());
    assert!(html.contains("The previous secret also signs until"));
    let (_, html) = ui.admin.post_follow(&format!("{page}/reveal"), &[]).await;
    assert_eq!(secret_in(&html).unwrap(), new);
    // Viewers can neither see nor rotate it.
    let (_, html) = ui.viewer.get(&page).await;
    assert!(!html.contains("/reveal") && !html.contains("/rotate"));
    assert_eq!(
        ui.viewer
            .post(&format!("{page}/reveal"), &[])
            .await
            .status(),
        403
    );
    assert_eq!(
        ui.viewer
            .post(&format!("{page}/rotate"), &[])
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn delete_asks_first_naming_the_webhook() {
    let ui = ui().await;
    let id = ui
        .webhook(json!({"url": "https://a.example.com/", "events": ["*"], "name": "Doomed hook"}))
        .await;
    let page = format!("/w/acme/webhooks/{id}");
    let (_, html) = ui.owner.get(&page).await;
    assert!(html.contains(&format!("href=\"{page}/delete\"")));
    // GET only asks.
    let (s, html) = ui.owner.get(&format!("{page}/delete")).await;
    assert_eq!(s, 200);
    assert!(html.contains("Delete the webhook “Doomed hook”?"));
    assert!(html.contains("https://a.example.com/"));
    assert_eq!(ui.get_webhook(id).await.0, 200, "GET changed nothing");
    let (loc, html) = ui.owner.post_follow(&format!("{page}/delete"), &[]).await;
    assert_eq!(loc, "/w/acme/webhooks");
    assert!(html.contains("Webhook “Doomed hook” deleted."));
    assert_eq!(ui.get_webhook(id).await.0, 404);
    assert_eq!(ui.owner.get(&page).await.0, 404);
}

//! The Add Webhook and Edit forms: the secret shown once, every field's error at once with the input kept.

use super::*;

#[tokio::test]
async fn empty_state_explains_webhooks_and_viewers_get_no_add_button() {
    let ui = ui().await;
    let (s, html) = ui.owner.get("/w/acme/webhooks").await;
    assert_eq!(s, 200);
    assert!(html.contains("No webhooks yet") && html.contains("HTTPS POST"));
    assert!(html.contains("href=\"/w/acme/webhooks/new\""));
    assert!(html.contains("Add Webhook"));
    let (s, html) = ui.viewer.get("/w/acme/webhooks").await;
    assert_eq!(s, 200);
    assert!(html.contains("No webhooks yet"));
    assert!(
        !html.contains("/w/acme/webhooks/new"),
        "viewer sees no Add Webhook"
    );
    assert_eq!(ui.viewer.get("/w/acme/webhooks/new").await.0, 403);
    // /w/acme leads to the webhooks.
    let r = ui.owner.b.get(ui.app.url("/w/acme")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/w/acme/webhooks");
}

#[tokio::test]
async fn add_webhook_shows_the_secret_once_and_lists_it() {
    let ui = ui().await;
    let (s, html) = ui.owner.get("/w/acme/webhooks/new").await;
    assert_eq!(s, 200);
    for needle in [
        "name=\"url\"",
        "project.created",
        "A project was created",
        "name=\"secret_mode\"",
        "name=\"header_name\"",
        "name=\"retry_preset\"",
        "name=\"timeout_seconds\"",
        "name=\"notification_email\"",
        ">Save<",
    ] {
        assert!(html.contains(needle), "form lacks {needle}");
    }
    // Several empty header rows work without JavaScript.
    assert!(html.matches("name=\"header_name\"").count() >= 3);
    let form = valid_form("https://crm.example.com/hook");
    let (loc, page) = ui.owner.post_follow("/w/acme/webhooks", &form).await;
    let id = id_in(&loc);
    assert_eq!(loc, format!("/w/acme/webhooks/{id}"));
    let secret = secret_in(&page).expect("the new secret is shown");
    assert!(page.contains("shown only this once"));
    // It is the webhook's real secret.
    let (_, api) = ui.get_webhook(id).await;
    assert_eq!(api["data"]["secret"], secret);
    assert_eq!(api["data"]["events"], json!(["project.created"]));
    assert_eq!(api["data"]["headers"], json!({"X-Team": "crm"}));
    assert_eq!(api["data"]["retry_schedule"], json!(vec![360; 9]));
    assert_eq!(api["data"]["timeout_seconds"], 15);
    assert_eq!(api["data"]["notification_email"], "ops@example.com");
    assert_eq!(api["data"]["description"], "Keeps the CRM in step");
    // Shown once: a reload does not show it again.
    let (_, again) = ui.owner.get(&loc).await;
    assert!(secret_in(&again).is_none(), "secret shown twice");
    // Listed with its name, URL, events and state.
    let (_, list) = ui.owner.get("/w/acme/webhooks").await;
    assert!(list.contains("CRM sync") && list.contains("https://crm.example.com/hook"));
    assert!(list.contains("project.created") && list.contains("Active"));
    assert!(list.contains("none yet"));
    assert!(secret_in(&list).is_none(), "never a secret in the list");
    // Own secret and the default schedule.
    let own = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G";
    let (loc, _) = ui
        .owner
        .post_follow(
            "/w/acme/webhooks",
            &[
                ("url", "https://two.example.com/"),
                ("events_mode", "all"),
                ("secret_mode", "own"),
                ("secret", own),
                ("retry_preset", "default"),
                ("timeout_seconds", ""),
            ],
        )
        .await;
    let (_, api) = ui.get_webhook(id_in(&loc)).await;
    assert_eq!(api["data"]["secret"], own);
    assert_eq!(api["data"]["events"], json!(["*"]));
    assert_eq!(api["data"]["retry_schedule"], json!([60, 300, 1800, 7200]));
    assert_eq!(api["data"]["timeout_seconds"], 30);
}

/// Every field's error is shown next to it, with what the user typed kept, and says the
/// same as the API.
#[tokio::test]
async fn validation_errors_are_shown_by_their_fields_with_the_input_kept() {
    let ui = ui().await;
    let bad = [
        ("url", "http://plain.example.com/hook"),
        ("name", "Kept name"),
        ("description", "Kept description"),
        ("events_mode", "chosen"),
        ("secret_mode", "own"),
        ("secret", "not-a-secret"),
        ("header_name", "Host"),
        ("header_value", "evil.example"),
        ("retry_preset", "custom"),
        ("retry_custom", "60, 0"),
        ("timeout_seconds", "99"),
        ("notification_email", "not-an-email"),
    ];
    let r = ui.owner.post("/w/acme/webhooks", &bad).await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    // The API's words for the same input.
    let (s, api) = ui
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "http://plain.example.com/hook", "events": ["*"]})),
        )
        .await;
    assert_eq!(s, 422);
    let url_msg = api["error"]["message"].as_str().unwrap();
    for (field, msg) in [
        ("url", url_msg),
        ("events", "choose at least one event type"),
        ("secret", "does not start with whsec_"),
        ("headers", "Host is set by Hookline itself"),
        (
            "retry_schedule",
            "step 2: each step is a number of seconds from 1 to 604800",
        ),
        ("timeout_seconds", "use a timeout from 1 to 60 seconds"),
        (
            "notification_email",
            "enter an email address like ops@example.com",
        ),
    ] {
        let marker = format!("id=\"{field}-error\">");
        let i = html
            .find(&marker)
            .unwrap_or_else(|| panic!("no error shown for {field}"));
        let shown =
            &html[i + marker.len()..i + marker.len() + html[i + marker.len()..].find('<').unwrap()];
        assert!(shown.contains(msg), "{field}: {shown:?} lacks {msg:?}");
        assert!(
            html.contains(&format!("href=\"#{field}\"")),
            "summary links {field}"
        );
    }
    for kept in [
        "value=\"http://plain.example.com/hook\"",
        "value=\"Kept name\"",
        ">Kept description</textarea>",
        "value=\"not-a-secret\"",
        "value=\"Host\"",
        "value=\"evil.example\"",
        "value=\"60, 0\"",
        "value=\"99\"",
        "value=\"not-an-email\"",
    ] {
        assert!(html.contains(kept), "input not kept: {kept}");
    }
    assert!(html.contains("aria-invalid=\"true\""));
    // Nothing was created.
    let (_, list) = ui.api(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    // Non-numbers where numbers belong, and an unknown event type.
    let r = ui
        .owner
        .post(
            "/w/acme/webhooks",
            &[
                ("url", "https://ok.example.com/"),
                ("events_mode", "chosen"),
                ("events", "nope.unknown"),
                ("retry_preset", "custom"),
                ("retry_custom", "soon"),
                ("timeout_seconds", "ten"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("unknown event type 'nope.unknown'"));
    assert!(html.contains("'soon' is not a whole number of seconds"));
    assert!(html.contains("use a timeout from 1 to 60 seconds"));
    assert!(html.contains("value=\"https://ok.example.com/\""));
    // The unknown type stays checked so the user sees what was refused.
    assert!(html.contains("value=\"nope.unknown\" checked"));
}

#[tokio::test]
async fn edit_form_is_filled_in_and_saves() {
    let ui = ui().await;
    let id = ui
        .webhook(
            json!({"url": "https://a.example.com/", "events": ["project.created"], "name": "Before",
            "headers": {"X-One": "1"}, "retry_schedule": [10, 20]}),
        )
        .await;
    let (s, html) = ui.owner.get(&format!("/w/acme/webhooks/{id}/edit")).await;
    assert_eq!(s, 200);
    assert!(html.contains("value=\"https://a.example.com/\""));
    assert!(html.contains("value=\"Before\""));
    assert!(html.contains("value=\"project.created\" checked"));
    assert!(html.contains("value=\"X-One\"") && html.contains("value=\"1\""));
    assert!(html.contains("value=\"custom\" id=\"retry-custom\" checked"));
    assert!(html.contains("value=\"10, 20\""));
    assert!(
        !html.contains("name=\"secret_mode\""),
        "the secret is rotated, not edited"
    );
    let path = format!("/w/acme/webhooks/{id}/edit");
    // An error keeps the edit.
    let r = ui
        .owner
        .post(
            &path,
            &[("url", ""), ("name", "After"), ("events_mode", "all")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("enter the URL that will receive the POSTs"));
    assert!(html.contains("value=\"After\""));
    let (loc, page) = ui
        .owner
        .post_follow(
            &path,
            &[
                ("url", "https://b.example.com/"),
                ("name", "After"),
                ("events_mode", "all"),
                ("header_name", "X-Two"),
                ("header_value", "2"),
                ("retry_preset", "default"),
                ("timeout_seconds", "20"),
            ],
        )
        .await;
    assert_eq!(loc, format!("/w/acme/webhooks/{id}"));
    assert!(page.contains("Webhook saved."));
    let (_, api) = ui.get_webhook(id).await;
    let d = &api["data"];
    assert_eq!(d["url"], "https://b.example.com/");
    assert_eq!(d["name"], "After");
    assert_eq!(d["events"], json!(["*"]));
    assert_eq!(d["headers"], json!({"X-Two": "2"}));
    assert_eq!(d["retry_schedule"], json!([60, 300, 1800, 7200]));
    assert_eq!(d["timeout_seconds"], 20);
    assert_eq!(d["is_active"], true);
}

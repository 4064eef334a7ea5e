//! Deliveries: the workspace's whole history, every webhook, with the API's filters.

use super::*;

/// The delivery ids of a page, in order.
fn ids_in(html: &str) -> Vec<i64> {
    html.match_indices("data-href=\"/w/acme/deliveries/")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn the_deliveries_page_shows_every_webhook_and_filters_like_the_api() {
    let u = local_ui().await;
    let good = Receiver::start(Receiver::always(200)).await;
    let bad = Receiver::start(Receiver::always(500)).await;
    let ok = u
        .webhook(json!({"url": good.url, "events": ["*"], "name": "Good one"}))
        .await;
    let failing = u
        .webhook(json!({"url": bad.url, "events": ["*"], "name": "Bad one", "retry_schedule": []}))
        .await;
    for n in 0..6 {
        let t = if n % 2 == 0 {
            "project.created"
        } else {
            "project.deleted"
        };
        u.publish(t, json!({"n": n})).await;
    }
    u.app.settle().await;

    let (s, html) = u.viewer.get("/w/acme/deliveries").await;
    assert_eq!(s, 200);
    assert_csp_clean(&html, "deliveries");
    assert!(
        html.contains("aria-current=\"page\">Deliveries"),
        "the section is highlighted"
    );
    assert!(html.contains("Good one") && html.contains("Bad one"));
    assert_eq!(ids_in(&html).len(), 12);
    assert_eq!(html.matches("data-status=\"failed\"").count(), 6);
    assert_eq!(
        html.matches("class=\"delivery status-failed\"").count(),
        6,
        "failed rows are red"
    );
    assert_eq!(html.matches("data-status=\"succeeded\"").count(), 6);

    let queries = [
        format!("webhook_id={failing}"),
        format!("webhook_id={ok}&event_type=project.deleted"),
        "status=failed".to_string(),
        "http_status=5xx".to_string(),
        "http_status=200&event_type=project.created".to_string(),
        "since=2020-01-01T00:00:00Z&until=2999-01-01T00:00:00Z".to_string(),
        "since=2999-01-01T00:00:00Z".to_string(),
    ];
    for q in queries {
        let (s, html) = u.viewer.get(&format!("/w/acme/deliveries?{q}")).await;
        assert_eq!(s, 200, "{q}");
        let (_, api) = u
            .api(
                Method::GET,
                &format!("/api/v1/deliveries?limit=100&{q}"),
                None,
            )
            .await;
        let want: Vec<i64> = api["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids_in(&html), want, "{q}");
    }
    // The filters stay in the form.
    let (_, html) = u
        .viewer
        .get("/w/acme/deliveries?http_status=5xx&status=failed")
        .await;
    assert!(html.contains("value=\"5xx\"") && html.contains("value=\"failed\" selected"));

    // Bad filters: 422, each field named, the input kept, never a 500.
    let (s, html) = u
        .viewer
        .get("/w/acme/deliveries?status=lost&http_status=7xx&since=yesterday&webhook_id=abc&event_id=x")
        .await;
    assert_eq!(s, 422);
    for field in ["status", "http_status", "since", "webhook_id", "event_id"] {
        assert!(
            html.contains(&format!("data-field=\"{field}\"")),
            "{field}: {html}"
        );
    }
    assert!(html.contains("value=\"yesterday\""), "the input is kept");
    let (s, _) = u.viewer.get("/w/acme/deliveries?cursor=garbage").await;
    assert_eq!(s, 400);

    // Tenancy: an outsider finds no such workspace; globex's list has none of acme's.
    let (s, _) = u.outsider.get("/w/acme/deliveries").await;
    assert_eq!(s, 404);
    let (s, html) = u
        .outsider
        .get(&format!("/w/globex/deliveries?webhook_id={ok}"))
        .await;
    assert_eq!(s, 200);
    assert!(ids_in(&html).is_empty() && !html.contains("data-status="));
}

#[tokio::test]
async fn the_deliveries_page_pages_with_older_links() {
    let u = local_ui().await;
    let good = Receiver::start(Receiver::always(200)).await;
    u.webhook(json!({"url": good.url, "events": ["*"]})).await;
    let events: Vec<Value> = (0..120)
        .map(|n| json!({"type": "project.created", "data": {"n": n}}))
        .collect();
    let (s, _) = u
        .api(
            Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": events})),
        )
        .await;
    assert_eq!(s, 202);
    u.app.settle().await;
    let mut seen = Vec::new();
    let mut next = Some("/w/acme/deliveries".to_string());
    let mut pages = 0;
    while let Some(path) = next {
        let (s, html) = u.admin.get(&path).await;
        assert_eq!(s, 200, "{path}");
        seen.extend(ids_in(&html));
        pages += 1;
        next = html
            .split("id=\"older\"")
            .next()
            .filter(|_| html.contains("id=\"older\""))
            .and_then(|before| before.rsplit("href=\"").next())
            .map(|h| h.split('"').next().unwrap().replace("&amp;", "&"));
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    let (_, api) = u
        .api(Method::GET, "/api/v1/deliveries?limit=100", None)
        .await;
    let mut want: Vec<i64> = api["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    let (_, more) = u
        .api(
            Method::GET,
            &format!(
                "/api/v1/deliveries?limit=100&cursor={}",
                api["meta"]["next_cursor"].as_str().unwrap()
            ),
            None,
        )
        .await;
    want.extend(
        more["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_i64().unwrap()),
    );
    assert_eq!(seen, want);
}

#[tokio::test]
async fn a_webhooks_page_draws_its_health_for_a_day_and_a_week() {
    let u = local_ui().await;
    // Fails the first three times, then answers.
    let rx = Receiver::start(|n| if n < 3 { (503, vec![]) } else { (200, vec![]) }).await;
    let id = u
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": []}))
        .await;
    for n in 0..10 {
        u.publish("project.created", json!({"n": n})).await;
    }
    u.app.settle().await;
    let (s, html) = u.viewer.get(&format!("/w/acme/webhooks/{id}")).await;
    assert_eq!(s, 200);
    assert_csp_clean(&html, "webhook page with chart");
    assert!(html.contains("id=\"health-chart\""), "{html}");
    assert!(
        html.contains("<span class=\"rate\" id=\"success-rate\">70.0 %</span> of 10 attempts"),
        "{html}"
    );
    assert_eq!(
        html.matches("<g class=\"bar\">").count(),
        24,
        "one bar an hour"
    );
    assert!(html.contains("3 failed"));
    assert!(html.contains("class=\"p95\""), "the p95 line");
    assert!(
        html.contains("Last 24 hours: 10 attempts, 3 failed, 70.0 % succeeded"),
        "the summary for screen readers"
    );
    let (s, week) = u
        .viewer
        .get(&format!("/w/acme/webhooks/{id}?window=7d"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        week.matches("<g class=\"bar\">").count(),
        7,
        "one bar a day"
    );
    assert!(week.contains("Last 7 days: 10 attempts"));
    let (s, _) = u
        .viewer
        .get(&format!("/w/acme/webhooks/{id}?window=1y"))
        .await;
    assert_eq!(s, 400);
    // A webhook without attempts says so instead of drawing an empty chart.
    let idle = u
        .webhook(json!({"url": "https://example.com/h", "events": ["*"], "is_active": false}))
        .await;
    let (_, html) = u.viewer.get(&format!("/w/acme/webhooks/{idle}")).await;
    assert!(html.contains("id=\"health-empty\"") && !html.contains("id=\"health-chart\""));
    assert!(html.contains("No attempts in the last 24 hours."));
}

#[tokio::test]
async fn retry_failed_and_replay_from_the_webhook_page_with_preview_progress_and_cancel() {
    let u = local_ui().await;
    let rx = Receiver::start(|n| if n < 4 { (500, vec![]) } else { (200, vec![]) }).await;
    let id = u
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": []}))
        .await;
    for n in 0..4 {
        u.publish("project.created", json!({"n": n})).await;
    }
    u.app.settle().await;
    // Viewers see neither action and may not use them.
    let (_, html) = u.viewer.get(&format!("/w/acme/webhooks/{id}")).await;
    assert!(!html.contains("id=\"retry-failed\"") && !html.contains("id=\"replay\""));
    let (s, _) = u
        .viewer
        .get(&format!("/w/acme/webhooks/{id}/bulk-retry"))
        .await;
    assert_eq!(s, 403);
    let r = u
        .viewer
        .post(
            &format!("/w/acme/webhooks/{id}/bulk-retry"),
            &[("since", "2020-01-01T00:00:00Z")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let (_, html) = u.admin.get(&format!("/w/acme/webhooks/{id}")).await;
    assert!(html.contains("id=\"retry-failed\"") && html.contains("id=\"replay\""));

    // The form, a preview, bad input, then the start.
    let path = format!("/w/acme/webhooks/{id}/bulk-retry");
    let (s, html) = u.admin.get(&path).await;
    assert_eq!(s, 200);
    assert_csp_clean(&html, "bulk retry form");
    let r = u
        .admin
        .post(
            &path,
            &[
                ("since", "2020-01-01T00:00:00Z"),
                ("until", ""),
                ("preview", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("4 deliveries match"), "{html}");
    for (since, until) in [
        ("", ""),
        ("yesterday", ""),
        ("2026-12-03T06:00:00Z", "2026-12-03T05:00:00Z"),
    ] {
        let r = u
            .admin
            .post(&path, &[("since", since), ("until", until)])
            .await;
        assert_eq!(r.status(), 422, "{since} {until}");
    }
    let r = u
        .admin
        .post_raw(&path, &[("since", "2020-01-01T00:00:00Z")])
        .await;
    assert_eq!(r.status(), 403, "no CSRF token");
    let (loc, html) = u
        .admin
        .post_follow(&path, &[("since", "2020-01-01T00:00:00Z")])
        .await;
    assert!(loc.starts_with("/w/acme/jobs/"), "{loc}");
    assert!(
        html.contains("Retry failed deliveries") && html.contains("<progress id=\"job-progress\"")
    );
    assert_csp_clean(&html, "job page");
    // The job reaches done; its page stops refreshing.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, html) = u.admin.get(&loc).await;
        if html.contains("data-state=\"done\"") {
            assert!(html.contains("4 of 4") && !html.contains("http-equiv=\"refresh\""));
            break;
        }
        assert!(
            html.contains("http-equiv=\"refresh\""),
            "a running job's page refreshes"
        );
        assert!(tokio::time::Instant::now() < deadline, "{html}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    u.app.settle().await;
    let (_, b) = u
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?status=succeeded"),
            None,
        )
        .await;
    assert_eq!(
        b["data"].as_array().unwrap().len(),
        4,
        "retried and delivered"
    );

    // A replay of thousands, cancelled from its page.
    let events: Vec<Value> = (0..1000)
        .map(|n| json!({"type": "project.deleted", "data": {"n": n}}))
        .collect();
    for _ in 0..3 {
        let (s, _) = u
            .api(
                Method::POST,
                "/api/v1/events/batch",
                Some(json!({"events": events})),
            )
            .await;
        assert_eq!(s, 202);
    }
    let slow = u
        .webhook(json!({"url": "http://127.0.0.1:9/hook", "events": ["project.deleted"], "retry_schedule": []}))
        .await;
    let replay = format!("/w/acme/webhooks/{slow}/replay");
    let r = u
        .admin
        .post(
            &replay,
            &[
                ("since", "2020-01-01T00:00:00Z"),
                ("event_types", "project.deleted"),
                ("preview", "1"),
            ],
        )
        .await;
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("3000 events match"), "{html}");
    let (loc, _) = u
        .admin
        .post_follow(
            &replay,
            &[
                ("since", "2020-01-01T00:00:00Z"),
                ("event_types", "project.deleted"),
            ],
        )
        .await;
    let job = id_in(&loc);
    let r = u
        .admin
        .post(&format!("/w/acme/jobs/{job}/cancel"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let (_, b) = u
        .api(Method::GET, &format!("/api/v1/jobs/{job}"), None)
        .await;
    assert_eq!(b["data"]["state"], "cancelled", "{b}");
    let r = u
        .viewer
        .post(&format!("/w/acme/jobs/{job}/cancel"), &[])
        .await;
    assert_eq!(r.status(), 403);
    let (s, _) = u.outsider.get(&loc).await;
    assert_eq!(s, 404);
    // A switched-off webhook: the form says so.
    u.api(
        Method::PATCH,
        &format!("/api/v1/webhooks/{id}"),
        Some(json!({"is_active": false})),
    )
    .await;
    let r = u
        .admin
        .post(&path, &[("since", "2020-01-01T00:00:00Z")])
        .await;
    assert_eq!(r.status(), 409);
    assert!(unescape(&r.text().await.unwrap()).contains("switched off"));
}

//! The Deliveries tab and the delivery page: failed rows in red, retrying rows with their next attempt, filters, pages, Retry, and a page that stays small whatever the bodies.

use super::*;

/// A delivery waiting for its next attempt reads as such: a solid `retrying` badge with when
/// the next attempt starts, in the list and on its page.
#[tokio::test]
async fn retrying_rows_say_when_the_next_attempt_starts() {
    let ui = local_ui().await;
    let rx = Receiver::start(Receiver::always(503)).await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [7200]}))
        .await;
    ui.publish("project.created", json!({"n": 1})).await;
    ui.app.settle().await;
    let (_, html) = ui
        .viewer
        .get(&format!("/w/acme/webhooks/{id}/deliveries"))
        .await;
    let row = &html[html
        .find("data-status=\"retrying\"")
        .expect("a retrying row")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("class=\"badge status-retrying\">retrying</span>"),
        "{row}"
    );
    let next = &row[row
        .find("class=\"next-attempt\">next attempt <time datetime=\"")
        .expect("next attempt shown")..];
    // Two hours plus at most 10% jitter, read at a glance.
    assert!(next.contains(">in 2 h"), "{next}");
}

#[tokio::test]
async fn deliveries_tab_marks_failures_filters_and_pages() {
    let ui = local_ui().await;
    // Odd requests fail; no retries so each delivery is final after one attempt.
    let rx = Receiver::start(|n| {
        if n % 2 == 1 {
            (500, vec![])
        } else {
            (200, vec![])
        }
    })
    .await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [], "name": "Flaky"}))
        .await;
    for i in 0..6 {
        // One at a time, so the receiver sees them in order.
        ui.publish(
            if i % 3 == 0 {
                "project.deleted"
            } else {
                "project.created"
            },
            json!({"i": i}),
        )
        .await;
        let want = i + 1;
        ui.wait_deliveries(id, |l| {
            l.len() == want
                && l.iter()
                    .all(|d| d["status"] == "succeeded" || d["status"] == "failed")
        })
        .await;
    }
    let tab = format!("/w/acme/webhooks/{id}/deliveries");
    let (s, html) = ui.viewer.get(&tab).await;
    assert_eq!(s, 200);
    assert_eq!(html.matches("data-status=\"failed\"").count(), 3);
    assert_eq!(html.matches("data-status=\"succeeded\"").count(), 3);
    assert_eq!(html.matches("class=\"delivery status-failed\"").count(), 3);
    assert!(html.contains(">500<") && html.contains(">200<") && html.contains(" ms<"));
    assert!(
        html.contains("<code>{\"i\":5}</code>"),
        "the payload preview is the data, nothing after it"
    );
    assert!(html.contains("project.deleted"));
    // Filters.
    let (_, html) = ui.viewer.get(&format!("{tab}?status=failed")).await;
    assert_eq!(html.matches("data-status=\"failed\"").count(), 3);
    assert_eq!(html.matches("data-status=\"succeeded\"").count(), 0);
    assert!(html.contains("value=\"failed\" selected"));
    let (_, html) = ui
        .viewer
        .get(&format!("{tab}?event_type=project.deleted"))
        .await;
    assert_eq!(html.matches("<tr class=\"delivery").count(), 2);
    let (_, html) = ui.viewer.get(&format!("{tab}?status=bogus")).await;
    assert!(html.contains("Unknown status"));
    let (_, html) = ui
        .viewer
        .get(&format!(
            "{tab}?status=succeeded&event_type=project.deleted"
        ))
        .await;
    assert_eq!(html.matches("<tr class=\"delivery").count(), 1);
    assert!(!html.contains("Older →"));
    assert_eq!(ui.viewer.get(&format!("{tab}?cursor=garbage")).await.0, 400);
}

#[tokio::test]
async fn deliveries_page_with_older_link() {
    let ui = ui().await;
    // An inactive-then-active webhook to an address nobody answers: deliveries stay in the
    // queue; only their number matters here.
    let id = ui
        .webhook(json!({"url": "https://unreachable.invalid/", "events": ["project.created"]}))
        .await;
    let (s, b) = ui
        .api(
            Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": (0..55).map(|i| json!({"type": "project.created", "data": {"n": i}})).collect::<Vec<_>>()})),
        )
        .await;
    assert!(s == 202 || s == 200, "{s} {b}");
    let tab = format!("/w/acme/webhooks/{id}/deliveries");
    let (_, first) = ui.owner.get(&tab).await;
    assert_eq!(first.matches("<tr class=\"delivery").count(), 50);
    let i = first.find("id=\"older\"").expect("Older → link");
    let href_start = first[..i].rfind("href=\"").unwrap() + 6;
    let href = &first[href_start..href_start + first[href_start..].find('"').unwrap()];
    assert!(href.contains("cursor="));
    let (_, second) = ui.owner.get(href).await;
    assert_eq!(second.matches("<tr class=\"delivery").count(), 5);
    assert!(second.contains("← Newest"));
    assert!(!second.contains("id=\"older\""));
    // No row repeats across the pages.
    assert!(first.contains("{\"n\":54}") && second.contains("{\"n\":0}"));
    assert!(!first.contains("{\"n\":0}"));
}

#[tokio::test]
async fn delivery_page_shows_every_attempt_and_retries() {
    let ui = local_ui().await;
    let rx = Receiver::start(|n| {
        if n == 0 {
            (500, vec![("X-Why".into(), "broken".into())])
        } else {
            (200, vec![])
        }
    })
    .await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [], "headers": {"X-Team": "crm"}}))
        .await;
    ui.publish("project.created", json!({"hello": "world"}))
        .await;
    let list = ui
        .wait_deliveries(id, |l| l.len() == 1 && l[0]["status"] == "failed")
        .await;
    let did = list[0]["id"].as_i64().unwrap();
    let page = format!("/w/acme/deliveries/{did}");
    let (s, html) = ui.viewer.get(&page).await;
    assert_eq!(s, 200);
    assert!(html.contains("Attempt 1"));
    let lower = html.to_lowercase();
    assert!(lower.contains("<th scope=\"row\">webhook-signature</th><td><code>v1,"));
    assert!(lower.contains("<th scope=\"row\">x-team</th><td><code>crm</code>"));
    assert!(html.contains("\"hello\": \"world\""), "pretty payload");
    assert!(
        html.contains("x-why") && html.contains("broken"),
        "response headers"
    );
    assert!(html.contains("receiver says hi"), "response body");
    assert!(html.contains("HTTP 500"));
    assert!(!html.contains("/retry"), "viewers get no Retry button");
    assert_eq!(
        ui.viewer.post(&format!("{page}/retry"), &[]).await.status(),
        403
    );
    let (_, html) = ui.owner.get(&page).await;
    assert!(html.contains("id=\"retry\""));
    let (loc, html) = ui.owner.post_follow(&format!("{page}/retry"), &[]).await;
    assert_eq!(loc, page);
    assert!(html.contains("Retry scheduled"));
    ui.wait_deliveries(id, |l| l[0]["status"] == "succeeded")
        .await;
    let (_, html) = ui.owner.get(&page).await;
    assert!(html.contains("Attempt 2") && html.contains("HTTP 200"));
    // The list's row links to the page.
    let (_, tab) = ui
        .owner
        .get(&format!("/w/acme/webhooks/{id}/deliveries"))
        .await;
    assert!(tab.contains(&format!("href=\"{page}\"")));
}

/// A receiver that answers every request with `500`, 90 long headers full of characters
/// HTML escapes, and a 100 KiB body: 100 levels of brackets around quotes and slashes.
async fn hostile_receiver() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let mut head = String::from("HTTP/1.1 500 Internal Server Error\r\n");
    for i in 0..90 {
        head.push_str(&format!("x-h{i}: {}\r\n", "\"'/<>&".repeat(30)));
    }
    let mut body = "[".repeat(100);
    while body.len() < 100 * 1024 {
        body.push_str("\"\\\"//<>&\",");
    }
    body.push('1');
    body.push_str(&"]".repeat(100));
    let response = format!(
        "{head}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 512 * 1024];
                let mut got = Vec::new();
                // Read the whole request (headers and the content-length body).
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let _ = s.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}/hook"), task)
}

/// Whatever a payload or a receiver holds (deep nesting, walls of quotes and slashes, many
/// long headers, dozens of attempts), the delivery page stays under 1 MB, says what it cut
/// and links the exact bytes; the raw body is what was signed (it verifies with the
/// standardwebhooks crate against the attempt's own headers).
#[tokio::test]
async fn the_delivery_page_stays_small_whatever_the_bodies() {
    let ui = local_ui().await;
    let (url, _rx) = hostile_receiver().await;
    // The most custom headers a webhook may have, each as long as allowed, all of characters
    // HTML escapes: sent (and shown) with every attempt.
    let big_headers: serde_json::Map<String, Value> = (0..20)
        .map(|i| (format!("X-Big-{i:02}"), json!("\"/".repeat(1024))))
        .collect();
    let (s, w) = ui
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(
                json!({"url": url, "events": ["*"], "retry_schedule": [], "headers": big_headers}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let (wid, secret) = (
        w["data"]["id"].as_i64().unwrap(),
        w["data"]["secret"].as_str().unwrap().to_string(),
    );
    // Deep: 120 levels of arrays around 40,000 numbers (~120 KB published).
    let mut deep = json!((0..40_000).collect::<Vec<i32>>());
    for _ in 0..120 {
        deep = json!([deep]);
    }
    // Deep objects with many keys at every level, and a wall of characters HTML escapes to six bytes.
    let mut objects = json!({"leaf": "x"});
    for i in 0..120 {
        let mut level = serde_json::Map::new();
        level.insert(format!("level-{i}"), objects);
        for j in 0..100 {
            level.insert(format!("s{j}"), json!(j));
        }
        objects = Value::Object(level);
    }
    let wall = json!(vec!["\"/'\"/'\"/'"; 15_000]);
    for (i, data) in [deep, objects, wall].into_iter().enumerate() {
        ui.publish("project.created", json!({ "v": data })).await;
        let list = ui
            .wait_deliveries(wid, |l| l.len() == i + 1 && l[0]["status"] == "failed")
            .await;
        let did = list[0]["id"].as_i64().unwrap();
        let page = format!("/w/acme/deliveries/{did}");
        if i == 0 {
            // Thirty more attempts, through the Retry button.
            for n in 2..=31 {
                let r = ui.owner.post(&format!("{page}/retry"), &[]).await;
                assert_eq!(r.status(), 303);
                ui.wait_deliveries(wid, |l| l[0]["attempts"] == n && l[0]["status"] == "failed")
                    .await;
            }
        }
        let r = ui.viewer.b.get(ui.app.url(&page)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        eprintln!("payload {i}: delivery page of {} bytes", html.len());
        assert!(
            html.len() < 1_000_000,
            "payload {i}: the delivery page is {} bytes",
            html.len()
        );
        assert!(
            html.contains("id=\"payload-cut\""),
            "payload {i}: no notice"
        );
        assert!(html.contains(&format!("href=\"{page}/body\"")));
        assert!(html.contains("more response headers are not shown"));
        assert!(html.contains("more request headers are not shown"));
        assert!(html.contains("Shown in part; the raw link has all of it."));
        if i == 0 {
            assert!(html.contains("id=\"attempts-hidden\""));
            assert!(
                html.contains("6 older ones are not shown"),
                "31 attempts, 25 shown"
            );
        }
        // The raw body: exactly the bytes that were signed.
        let raw = ui
            .viewer
            .b
            .get(ui.app.url(&format!("{page}/body")))
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 200);
        assert_eq!(raw.headers()["content-type"], "text/plain; charset=utf-8");
        assert!(raw.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox"));
        let raw = raw.bytes().await.unwrap();
        let (_, d) = ui
            .api(Method::GET, &format!("/api/v1/deliveries/{did}"), None)
            .await;
        let sent = &d["data"]["attempts"][0]["request"]["headers"];
        let mut headers = http::HeaderMap::new();
        for h in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            headers.insert(h, sent[h].as_str().unwrap().parse().unwrap());
        }
        standardwebhooks::Webhook::new(&secret)
            .unwrap()
            .verify(&raw, &headers)
            .expect("the raw body is what was signed");
        let download = ui
            .viewer
            .b
            .get(ui.app.url(&format!("{page}/body?download=1")))
            .send()
            .await
            .unwrap();
        assert!(download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"evt_"));
        assert_eq!(download.bytes().await.unwrap(), raw);
        // The receiver's stored answer, raw: its first 64 KiB.
        let resp = ui
            .viewer
            .b
            .get(ui.app.url(&format!("{page}/attempts/1/response")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let resp = resp.bytes().await.unwrap();
        assert_eq!(resp.len(), 64 * 1024);
        assert!(resp.starts_with(b"[[[["));
    }
    // Raw bytes follow the same tenancy as the page.
    let (_, d) = ui
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{wid}/deliveries?limit=1"),
            None,
        )
        .await;
    let did = d["data"][0]["id"].as_i64().unwrap();
    for path in [
        format!("/w/acme/deliveries/{did}/body"),
        format!("/w/acme/deliveries/{did}/attempts/1/response"),
        format!("/w/acme/deliveries/{did}/attempts/99/response"),
        format!("/w/globex/deliveries/{did}/body"),
    ] {
        let r = ui.outsider.b.get(ui.app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = ui
        .viewer
        .b
        .get(
            ui.app
                .url(&format!("/w/acme/deliveries/{did}/attempts/99/response")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

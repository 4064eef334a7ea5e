//! The vendor's brand (`HOOKLINE_BRAND_*`) on pages, the logo, the colours and emails.

use super::*;

const SVG: &str = "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\" fill=\"#0b7285\"/></svg>";

#[tokio::test]
async fn the_brand_names_pages_serves_its_logo_and_colours() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.svg");
    std::fs::write(&logo, SVG).unwrap();
    let logo_path = logo.to_str().unwrap().to_string();
    let u = ui_with(move |c| {
        c.brand_name = Some("PLNAR".into());
        c.brand_logo = Some(logo_path);
        c.brand_color = Some("#FFDD00".into());
    })
    .await;
    for path in ["/w/acme/webhooks", "/w/acme/api-keys"] {
        let (st, html) = u.owner.get(path).await;
        assert_eq!(st, 200);
        assert!(html.contains("· PLNAR</title>"), "{path}: title");
        assert!(
            html.contains("<img class=\"brand-logo\" src=\"/brand/logo\""),
            "{path}: logo"
        );
        assert!(html.contains("href=\"/static/brand.css\""), "{path}");
        assert!(!html.contains("· Hookline</title>"));
        assert_csp_clean(&html, path);
    }
    let (_, html) = u
        .app
        .browser()
        .get(u.app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|h| (0, h))
        .unwrap();
    assert!(html.contains("PLNAR"), "the login page too");
    // A portal's "go back" page names the brand.
    let r = u
        .app
        .http
        .get(
            u.app
                .url("/portal/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        )
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("Go back to PLNAR"), "{html}");

    // The logo: the file's bytes, an ETag, 304 when the browser has it, and a sandbox.
    let r = u
        .app
        .http
        .get(u.app.url("/brand/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(r.text().await.unwrap(), SVG);
    let r = u
        .app
        .http
        .get(u.app.url("/brand/logo"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    // The file is read once, at start: changing it changes nothing until a restart.
    std::fs::write(&logo, "<svg/>").unwrap();
    let r = u
        .app
        .http
        .get(u.app.url("/brand/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);

    // The colour, with dark text on this light yellow (white would read at 1.4:1).
    let css = u
        .app
        .http
        .get(u.app.url("/static/brand.css"))
        .send()
        .await
        .unwrap();
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let css = css.text().await.unwrap();
    assert!(css.contains("--brand: #ffdd00"), "{css}");
    assert!(css.contains("color: #111827"), "{css}");
}

#[tokio::test]
async fn without_a_brand_pages_say_hookline_and_there_is_no_logo() {
    let u = ui().await;
    let (_, html) = u.owner.get("/w/acme/webhooks").await;
    assert!(html.contains("· Hookline</title>"));
    assert!(!html.contains("brand-logo"));
    let r = u
        .app
        .http
        .get(u.app.url("/brand/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let css = u
        .app
        .http
        .get(u.app.url("/static/brand.css"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !css.contains("--brand"),
        "the default colours stay app.css's: {css}"
    );
}

#[tokio::test]
async fn emails_carry_the_brand() {
    let smtp = crate::smtp::SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = hookline::config::Config::parse(hookline::config::RawConfig {
        data_dir: dir.path().to_path_buf(),
        smtp_url: Some(smtp.url.clone()),
        smtp_from: Some("hooks@plnar.example".into()),
        brand_name: Some("PLNAR".into()),
        ..Default::default()
    })
    .unwrap();
    let mailer = hookline::notify::Mailer::new(&config, "https://hooks.plnar.example").unwrap();
    mailer
        .send(
            "ann@acme.example",
            "[Hookline] Delivery to CRM failed",
            "body".into(),
        )
        .await
        .unwrap();
    let mail = smtp.mails.lock().unwrap()[0].clone();
    assert!(
        mail.data
            .contains("Subject: [PLNAR] Delivery to CRM failed"),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("From: PLNAR <hooks@plnar.example>"),
        "{}",
        mail.data
    );
}

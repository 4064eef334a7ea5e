//! The vendor's brand on Hookline's pages and emails: a name, a logo and an accent colour
//! (`HOOKLINE_BRAND_*`). Parsed and checked once at start; the logo is read into memory then,
//! so the binary never reads the file again.

use sha2::{Digest, Sha256};

pub const DEFAULT_NAME: &str = "Hookline";
pub const DEFAULT_COLOR: &str = "#2457d6";
/// Largest logo file accepted.
pub const MAX_LOGO_BYTES: usize = 512 * 1024;
/// Least contrast of text on the accent colour (WCAG AA for normal text).
pub const MIN_CONTRAST: f64 = 4.5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    /// A strong ETag of the bytes, quoted.
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Brand {
    pub name: String,
    pub logo: Option<Logo>,
    /// `#rrggbb`, lowercase.
    pub color: String,
    /// The text colour on `color`: white or near-black, whichever reads better.
    pub on_color: &'static str,
    /// The contrast ratio of `on_color` on `color`.
    pub contrast: f64,
    /// `color`, darkened until it reads as text on white (4.5:1): links and focus rings.
    pub link_color: String,
    /// `color`, darkened a little: buttons under the pointer.
    pub hover_color: String,
}

impl Default for Brand {
    fn default() -> Self {
        Brand::parse(None, None, None).expect("the default brand is valid")
    }
}

type BadSetting = (&'static str, String, String);

impl Brand {
    /// From the three settings; an error names the setting, the value and what to write.
    pub fn parse(
        name: Option<&str>,
        logo: Option<&str>,
        color: Option<&str>,
    ) -> Result<Brand, BadSetting> {
        let name = match name.map(str::trim) {
            None | Some("") => DEFAULT_NAME.to_string(),
            Some(n) if n.chars().count() > 60 || n.chars().any(char::is_control) => {
                return Err((
                    "HOOKLINE_BRAND_NAME",
                    n.to_string(),
                    "write a name of at most 60 characters, without control characters".into(),
                ))
            }
            Some(n) => n.to_string(),
        };
        let color = match color.map(str::trim) {
            None | Some("") => DEFAULT_COLOR.to_string(),
            Some(c) => parse_hex(c)
                .map(|_| c.to_ascii_lowercase())
                .ok_or_else(|| {
                    (
                        "HOOKLINE_BRAND_COLOR",
                        c.to_string(),
                        "write a colour as #rrggbb, e.g. #0b7285".to_string(),
                    )
                })?,
        };
        let rgb = parse_hex(&color).expect("checked above");
        let (on_color, ratio) = text_on(rgb);
        let mut link = rgb;
        while contrast(link, [255, 255, 255]) < MIN_CONTRAST {
            link = shade(link, 0.9);
        }
        let link_color = hex_of(link);
        let hover_color = hex_of(shade(rgb, 0.82));
        let logo = match logo {
            None => None,
            Some(path) => {
                Some(read_logo(path).map_err(|e| ("HOOKLINE_BRAND_LOGO", path.to_string(), e))?)
            }
        };
        Ok(Brand {
            name,
            logo,
            color,
            on_color,
            contrast: ratio,
            link_color,
            hover_color,
        })
    }

    pub fn is_default_name(&self) -> bool {
        self.name == DEFAULT_NAME
    }

    /// `/static/brand.css`: the colours as CSS variables over `app.css`'s (inline styles
    /// are refused by the pages' CSP, so the colours travel as a stylesheet).
    pub fn stylesheet(&self) -> String {
        if self.color == DEFAULT_COLOR {
            return "/* the default colours of app.css */\n".into();
        }
        format!(
            ":root {{ --accent: {link}; --accent-hover: {hover}; --brand: {c}; --brand-fg: {on}; }}\n\
             button.primary, .button.primary {{ background: {c}; border-color: {c}; color: {on}; }}\n\
             button.primary:hover, .button.primary:hover {{ background: {hover}; border-color: {hover}; color: {on}; }}\n",
            link = self.link_color,
            hover = self.hover_color,
            c = self.color,
            on = self.on_color,
        )
    }
}

fn parse_hex(c: &str) -> Option<[u8; 3]> {
    let hex = c.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

fn shade(rgb: [u8; 3], f: f64) -> [u8; 3] {
    rgb.map(|c| (c as f64 * f).floor() as u8)
}

fn hex_of([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// WCAG 2 relative luminance.
fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = c as f64 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

pub fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// White text if it reaches [`MIN_CONTRAST`] on `bg`, else the page's near-black if that
/// does, else black (every colour has white or black at 4.58:1 or better).
fn text_on(bg: [u8; 3]) -> (&'static str, f64) {
    let white = contrast(bg, [255, 255, 255]);
    if white >= MIN_CONTRAST {
        return ("#ffffff", white);
    }
    let dark = contrast(bg, [17, 24, 39]);
    if dark >= MIN_CONTRAST {
        return ("#111827", dark);
    }
    let black = contrast(bg, [0, 0, 0]);
    if black >= white {
        ("#000000", black)
    } else {
        ("#ffffff", white)
    }
}

fn read_logo(path: &str) -> Result<Logo, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!("cannot read the logo file ({e}); write the path of a PNG or SVG file")
    })?;
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(format!(
            "the logo is {} KiB; write the path of a PNG or SVG of at most {} KiB",
            bytes.len() / 1024,
            MAX_LOGO_BYTES / 1024
        ));
    }
    let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if looks_like_svg(&bytes) {
        "image/svg+xml"
    } else {
        return Err(
            "the file is neither a PNG nor an SVG image; write the path of one of those".into(),
        );
    };
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&bytes)[..16]));
    Ok(Logo {
        bytes,
        content_type,
        etag,
    })
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let head: String = text
        .chars()
        .take(2048)
        .collect::<String>()
        .to_ascii_lowercase();
    head.contains("<svg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_checked_and_text_on_them_always_reads() {
        for bad in [
            "", "blue", "#12345", "#1234567", "#gg0000", "123456", "#12 345",
        ] {
            if bad.is_empty() {
                continue;
            }
            assert!(Brand::parse(None, None, Some(bad)).is_err(), "{bad}");
        }
        for c in [
            "#000000", "#ffffff", "#FFDD00", "#777777", "#2563eb", "#0b7285", "#ff0000",
        ] {
            let b = Brand::parse(None, None, Some(c)).unwrap();
            assert!(b.contrast >= MIN_CONTRAST, "{c}: {}", b.contrast);
            let link = parse_hex(&b.link_color).unwrap();
            assert!(
                contrast(link, [255, 255, 255]) >= MIN_CONTRAST,
                "{c}: link {}",
                b.link_color
            );
            assert_eq!(b.color, c.to_ascii_lowercase());
        }
        assert_eq!(
            Brand::parse(None, None, Some("#ffdd00")).unwrap().on_color,
            "#111827"
        );
        assert_eq!(
            Brand::parse(None, None, Some("#1e3a8a")).unwrap().on_color,
            "#ffffff"
        );
        // Every grey, and a sweep of colours, reaches 4.5:1 with the chosen text colour.
        for v in 0..=255u8 {
            assert!(text_on([v, v, v]).1 >= MIN_CONTRAST, "grey {v}");
        }
        for r in (0..=255u8).step_by(15) {
            for g in (0..=255u8).step_by(15) {
                for b in (0..=255u8).step_by(15) {
                    assert!(text_on([r, g, b]).1 >= MIN_CONTRAST, "{r},{g},{b}");
                }
            }
        }
    }

    #[test]
    fn names_and_logos_are_checked() {
        assert_eq!(Brand::default().name, "Hookline");
        assert_eq!(
            Brand::parse(Some(" PLNAR "), None, None).unwrap().name,
            "PLNAR"
        );
        assert!(Brand::parse(Some(&"x".repeat(61)), None, None).is_err());
        assert!(Brand::parse(Some("a\u{7}b"), None, None).is_err());
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("logo.svg");
        std::fs::write(
            &svg,
            "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        )
        .unwrap();
        let b = Brand::parse(None, Some(svg.to_str().unwrap()), None).unwrap();
        let logo = b.logo.unwrap();
        assert_eq!(logo.content_type, "image/svg+xml");
        assert!(logo.etag.starts_with('"') && logo.etag.len() == 34);
        let png = dir.path().join("logo.png");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\n0000").unwrap();
        assert_eq!(
            Brand::parse(None, Some(png.to_str().unwrap()), None)
                .unwrap()
                .logo
                .unwrap()
                .content_type,
            "image/png"
        );
        let txt = dir.path().join("logo.txt");
        std::fs::write(&txt, "hello").unwrap();
        assert!(Brand::parse(None, Some(txt.to_str().unwrap()), None).is_err());
        assert!(Brand::parse(None, Some("/nonexistent/logo.png"), None).is_err());
        let big = dir.path().join("big.png");
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(MAX_LOGO_BYTES + 1, 0);
        std::fs::write(&big, bytes).unwrap();
        assert!(Brand::parse(None, Some(big.to_str().unwrap()), None).is_err());
    }
}

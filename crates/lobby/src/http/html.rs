//! HTML building blocks: escaping, the page layout, dates and sizes.
//!
//! Every text that comes from a user (game names, descriptions, reviews,
//! account names, search words) goes through [`e`], which escapes the five
//! HTML-special characters, so a hostile description cannot add markup.

use std::fmt;

/// Escapes text for HTML element content and quoted attribute values.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let entity = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(entity)?;
            last = i + 1;
        }
        f.write_str(&self.0[last..])
    }
}

/// Short for [`Escaped`].
pub fn e(text: &str) -> Escaped<'_> {
    Escaped(text)
}

/// Percent-encodes a query-string value.
pub fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const STYLE: &str = r#"
:root { --bg:#0f1720; --panel:#17212d; --line:#263445; --text:#e6edf3; --dim:#93a4b8; --accent:#4cc2ff; --good:#5bd68a; --warn:#ffb454; --bad:#ff6b6b; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text); font:15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
header.top { display:flex; align-items:center; gap:24px; padding:12px 28px; background:#0a1017; border-bottom:1px solid var(--line); }
header.top .brand { font-weight:700; font-size:20px; color:var(--text); letter-spacing:.5px; }
header.top nav a { margin-right:18px; color:var(--dim); } header.top nav a.on { color:var(--text); font-weight:600; }
main { max-width:1100px; margin:0 auto; padding:24px 28px 60px; }
h1 { font-size:26px; margin:8px 0 16px; } h2 { font-size:19px; margin:28px 0 10px; }
.muted { color:var(--dim); }
form.search { display:flex; gap:8px; margin:0 0 18px; flex-wrap:wrap; }
input, select, button, textarea { font:inherit; color:var(--text); background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:7px 10px; }
input[type=search], input[type=text] { min-width:260px; }
button { background:#1f6feb; border-color:#1f6feb; cursor:pointer; } button.danger { background:#8b1e1e; border-color:#8b1e1e; }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(250px, 1fr)); gap:14px; }
.card { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.card h3 { margin:0 0 4px; font-size:17px; }
.card p { margin:6px 0 0; color:var(--dim); font-size:14px; overflow:hidden; display:-webkit-box; -webkit-line-clamp:3; -webkit-box-orient:vertical; }
.tags { display:flex; gap:6px; flex-wrap:wrap; margin-top:6px; }
.tag { font-size:12px; padding:1px 8px; border-radius:999px; background:#223246; color:var(--dim); }
.rating { color:var(--warn); font-weight:600; }
table { width:100%; border-collapse:collapse; background:var(--panel); border:1px solid var(--line); border-radius:8px; overflow:hidden; }
th, td { text-align:left; padding:8px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--dim); font-weight:600; font-size:13px; text-transform:uppercase; letter-spacing:.4px; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
pre.cmd { background:#0a1017; border:1px solid var(--line); padding:10px 14px; border-radius:8px; overflow-x:auto; }
pre.log { background:#0a1017; border:1px solid var(--line); padding:8px; max-height:220px; overflow:auto; font-size:12px; white-space:pre-wrap; }
.pager { display:flex; gap:14px; align-items:center; margin-top:18px; }
.hero { display:flex; gap:28px; flex-wrap:wrap; } .hero .facts { min-width:260px; }
.facts dt { color:var(--dim); font-size:13px; } .facts dd { margin:0 0 8px; }
.review { border-top:1px solid var(--line); padding:10px 0; }
.state-waiting { color:var(--good); } .state-playing { color:var(--accent); } .state-starting { color:var(--warn); }
.banned { color:var(--bad); font-weight:600; }
.flash { background:#14324a; border:1px solid #1f6feb; padding:8px 12px; border-radius:8px; margin-bottom:14px; }
.error { background:#3a1616; border:1px solid var(--bad); padding:8px 12px; border-radius:8px; margin-bottom:14px; }
form.inline { display:inline-flex; gap:6px; margin:0; }
"#;

/// Which part of the site a page belongs to, for the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Store,
    Lobby,
    Admin,
}

/// A whole page: layout, navigation and `body`.
pub fn page(title: &str, section: Section, body: &str) -> String {
    let on = |s: Section| if s == section { " class=\"on\"" } else { "" };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Game Store</title><style>{STYLE}</style></head><body>\
         <header class=\"top\"><a class=\"brand\" href=\"/\">Game Store</a><nav>\
         <a href=\"/\"{store}>Store</a><a href=\"/lobby\"{lobby}>Lobby</a>\
         <a href=\"/admin\"{admin}>Admin</a></nav></header><main>{body}</main></body></html>",
        title = e(title),
        store = on(Section::Store),
        lobby = on(Section::Lobby),
        admin = on(Section::Admin),
    )
}

/// `2026-12-01 23:40 UTC` for Unix seconds.
pub fn date_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

/// `2026-12-01` for Unix seconds.
pub fn date(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `1.4 MB` style sizes.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `★ 4.5 (12 reviews)` or `No reviews yet`.
pub fn rating(rating: Option<f64>, reviews: u32) -> String {
    match rating {
        Some(r) => format!(
            "<span class=\"rating\">★ {r:.1}</span> <span class=\"muted\">({reviews} review{})</span>",
            if reviews == 1 { "" } else { "s" }
        ),
        None => "<span class=\"muted\">No reviews yet</span>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        let cases = [
            ("plain", "plain"),
            ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
            ("a & b \"q\" 'x'", "a &amp; b &quot;q&quot; &#39;x&#39;"),
            ("é<", "é&lt;"),
        ];
        for (input, expect) in cases {
            assert_eq!(e(input).to_string(), expect, "{input}");
        }
    }

    #[test]
    fn dates_and_sizes() {
        assert_eq!(date_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(date_time(1_796_255_999), "2026-12-02 23:59 UTC");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1_400_000), "1.4 MB");
        assert_eq!(url("a b&c/é"), "a%20b%26c%2F%C3%A9");
    }
}

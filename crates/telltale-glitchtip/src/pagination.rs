//! Cursor pagination: a lenient `Link` header parser (GlitchTip 5 prints the header as a Python
//! set, `{'<…>; rel="previous"…, <…>; rel="next"…'}`), `X-Hits`, and one page of results.

/// One link of a `Link` header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link {
    /// The target URL.
    pub url: String,
    /// `rel`, e.g. `next` or `previous`.
    pub rel: String,
    /// Sentry's `results` parameter: whether following the link yields anything.
    pub results: Option<bool>,
    /// Sentry's `cursor` parameter, else the URL's `cursor` query parameter.
    pub cursor: Option<String>,
}

/// An opaque position in a listing, taken from a `Link` header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor from its text (as a `Link` header or an earlier [`Cursor::as_str`] gave it).
    pub fn new(text: impl Into<String>) -> Cursor {
        Cursor(text.into())
    }

    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// The cursor of the next page, when the server says it has results.
    pub next: Option<Cursor>,
    /// The cursor of the previous page, when the server says it has results.
    pub previous: Option<Cursor>,
    /// `X-Hits`: the total number of matches (capped at `X-Max-Hits`).
    pub hits: Option<u64>,
    /// `X-Max-Hits`: the cap on `X-Hits` (1000 on GlitchTip).
    pub max_hits: Option<u64>,
}

impl<T> Page<T> {
    /// Builds a page from its items and the response headers.
    pub(crate) fn from_headers(items: Vec<T>, headers: &[(String, String)]) -> Page<T> {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let links = header("link").map(parse_link_header).unwrap_or_default();
        let cursor_of = |rel: &str| {
            links
                .iter()
                .find(|l| l.rel == rel)
                .filter(|l| l.results != Some(false))
                .and_then(|l| l.cursor.clone())
                .filter(|c| !c.is_empty())
                .map(Cursor)
        };
        Page {
            next: cursor_of("next"),
            previous: cursor_of("previous"),
            hits: header("x-hits").and_then(|v| v.trim().parse().ok()),
            max_hits: header("x-max-hits").and_then(|v| v.trim().parse().ok()),
            items,
        }
    }
}

/// Parses a `Link` header leniently.
///
/// Accepts RFC 8288 headers and GlitchTip's Python-set rendering (`{'…'}` or `{"…"}`, and `{}`
/// for no links). Commas inside `<…>` and quoted strings do not split links. A link whose URL is
/// not enclosed in `<…>` is skipped.
pub fn parse_link_header(value: &str) -> Vec<Link> {
    let mut v = value.trim();
    if let Some(inner) = v.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        v = inner.trim();
        for q in ['\'', '"'] {
            if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
                v = &v[1..v.len() - 1];
                break;
            }
        }
    }
    split_outside(v, ',')
        .into_iter()
        .filter_map(|part| parse_link(part.trim()))
        .collect()
}

/// Splits on `sep` where it is neither inside `<…>` nor inside double quotes.
fn split_outside(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut in_angle, mut in_quote, mut start) = (false, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            '"' if !in_angle => in_quote = !in_quote,
            c if c == sep && !in_angle && !in_quote => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_link(s: &str) -> Option<Link> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    let url = rest[..end].trim().to_owned();
    let mut link = Link {
        url,
        rel: String::new(),
        results: None,
        cursor: None,
    };
    for param in split_outside(&rest[end + 1..], ';') {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "rel" => link.rel = v.to_owned(),
            "results" => link.results = Some(v.eq_ignore_ascii_case("true")),
            "cursor" => link.cursor = Some(v.to_owned()),
            _ => {}
        }
    }
    if link.cursor.is_none() {
        link.cursor = url::Url::parse(&link.url).ok().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned())
        });
    }
    Some(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_set_and_plain_forms_parse_alike() {
        let inner = r#"<http://h/api/0/x/?query=a,b&limit=2>; rel="previous"; results="false", <http://h/api/0/x/?cursor=cD0y&limit=2>; rel="next"; results="true"; cursor="cD0y""#;
        for value in [
            inner.to_owned(),
            format!("{{'{inner}'}}"),
            format!("{{\"{inner}\"}}"),
        ] {
            let links = parse_link_header(&value);
            assert_eq!(links.len(), 2, "{value}");
            assert_eq!(links[0].rel, "previous");
            assert_eq!(links[0].results, Some(false));
            assert_eq!(links[0].url, "http://h/api/0/x/?query=a,b&limit=2");
            assert_eq!(links[1].cursor.as_deref(), Some("cD0y"));
        }
        assert!(parse_link_header("{}").is_empty());
        assert!(parse_link_header("").is_empty());
        assert!(parse_link_header("garbage, more garbage").is_empty());
    }

    #[test]
    fn cursor_falls_back_to_the_url_and_results_false_means_no_page() {
        let headers = vec![
            (
                "link".to_owned(),
                "<http://h/x/?cursor=abc%3D%3D>; rel=next".to_owned(),
            ),
            ("x-hits".to_owned(), "8".to_owned()),
        ];
        let page = Page::from_headers(vec![1], &headers);
        assert_eq!(page.next, Some(Cursor::new("abc==")));
        assert_eq!(page.hits, Some(8));
        let headers = vec![(
            "Link".to_owned(),
            r#"<http://h/x/?cursor=zz>; rel="next"; results="false""#.to_owned(),
        )];
        assert_eq!(Page::from_headers(vec![1], &headers).next, None);
    }
}

//! `Content-Type` parsing: a media type and its parameters, as Go's `mime.ParseMediaType`
//! reads them (RFC 2045 tokens and quoted strings), which is what Prometheus 3 uses to pick a
//! parser (`model/textparse/interface.go`, `extractMediaType`) and why it refuses a malformed
//! header such as `text/plain; version=0.0.4, charset=utf-8`.

/// A parsed media type: lowercase `type/subtype` and parameters with lowercase names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MediaType {
    pub(crate) essence: String,
    pub(crate) params: Vec<(String, String)>,
}

impl MediaType {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// RFC 2045 `token` characters: visible ASCII except the `tspecials`.
fn is_token_char(c: u8) -> bool {
    c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&c)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t')
}

/// Parses `type/subtype *(";" name=value)`; `None` when anything is malformed.
///
/// Like Go, a trailing `;` is ignored and a repeated parameter name is an error.
pub(crate) fn parse_media_type(s: &str) -> Option<MediaType> {
    let b = s.as_bytes();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while *i < b.len() && is_space(b[*i]) {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> Option<String> {
        let start = *i;
        while *i < b.len() && is_token_char(b[*i]) {
            *i += 1;
        }
        (start < *i).then(|| s[start..*i].to_ascii_lowercase())
    };
    skip_space(&mut i);
    let kind = token(&mut i)?;
    if b.get(i) != Some(&b'/') {
        return None;
    }
    i += 1;
    let subtype = token(&mut i)?;
    let essence = format!("{kind}/{subtype}");
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        skip_space(&mut i);
        if i == b.len() {
            break;
        }
        if b[i] != b';' {
            return None;
        }
        i += 1;
        skip_space(&mut i);
        if i == b.len() {
            break; // a trailing ';'
        }
        let name = token(&mut i)?;
        if b.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            i += 1;
            let mut v = String::new();
            loop {
                match b.get(i)? {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        let c = s[i + 1..].chars().next()?;
                        v.push(c);
                        i += 1 + c.len_utf8();
                    }
                    _ => {
                        let c = s[i..].chars().next()?;
                        v.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            v
        } else {
            let start = i;
            while i < b.len() && is_token_char(b[i]) {
                i += 1;
            }
            if start == i {
                return None;
            }
            s[start..i].to_owned()
        };
        if params.iter().any(|(k, _)| *k == name) {
            return None;
        }
        params.push((name, value));
    }
    Some(MediaType { essence, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_media_type_and_parameters() {
        let m = parse_media_type("Text/Plain; Version=0.0.4; charset=\"utf-8\"").unwrap();
        assert_eq!(m.essence, "text/plain");
        assert_eq!(m.param("version"), Some("0.0.4"));
        assert_eq!(m.param("charset"), Some("utf-8"));
        let m = parse_media_type("application/openmetrics-text;version=1.0.0;").unwrap();
        assert_eq!(m.essence, "application/openmetrics-text");
        assert_eq!(m.param("version"), Some("1.0.0"));
        assert_eq!(parse_media_type(" text/plain ").unwrap().params, vec![]);
    }

    #[test]
    fn rejects_malformed_headers_like_go() {
        for s in [
            "text/plain; version=0.0.4, charset=utf-8",
            "text/plain, application/openmetrics-text",
            "text",
            "text/",
            "/plain",
            "text/plain; version",
            "text/plain; version=",
            "text/plain; =0.0.4",
            "text/plain; version=\"0.0.4",
            "text/plain; version=0.0.4; version=0.0.4",
            "text/plain version=0.0.4",
            "",
        ] {
            assert_eq!(parse_media_type(s), None, "{s:?}");
        }
    }
}
